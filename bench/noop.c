/*
 * A reference point for bench/pinned.sh: an HTTP server that does no work.
 * It answers every request head it reads with the same bytes (a minimal
 * `200` head and the contents of one file, read once at start), without
 * parsing the request, opening a file or formatting anything; one thread,
 * epoll, level-triggered, like the servers it is measured beside. Against it
 * the client's core is the one that runs out: how far a real server gets
 * from its figure is how much of the client's capacity that server leaves
 * unused (or, as with lighttpd, how much better its answers batch up for
 * the client). Loopback only. Usage: noop PORT FILE
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static char response[65536];
static char request[16384];
/* The last bytes read on each connection, so that a head's blank line
 * split over two reads is still found. */
#define MAX_FDS 65536
static unsigned tail[MAX_FDS];

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: noop PORT FILE\n");
    return 2;
  }
  FILE *f = fopen(argv[2], "rb");
  if (!f) {
    perror(argv[2]);
    return 1;
  }
  char body[32768];
  size_t body_len = fread(body, 1, sizeof body, f);
  if (!feof(f)) {
    fprintf(stderr, "%s: larger than %zu bytes\n", argv[2], sizeof body);
    return 1;
  }
  fclose(f);
  int head_len = snprintf(response, sizeof response,
                          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                          "Content-Length: %zu\r\n\r\n", body_len);
  memcpy(response + head_len, body, body_len);
  size_t response_len = head_len + body_len;

  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int on = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  /* Accepted sockets inherit it, as with otuserver. */
  setsockopt(listener, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(atoi(argv[1]));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) || listen(listener, 4096)) {
    perror("listening");
    return 1;
  }
  int poller = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
  epoll_ctl(poller, EPOLL_CTL_ADD, listener, &ev);
  struct epoll_event ready[512];
  for (;;) {
    int n = epoll_wait(poller, ready, 512, -1);
    for (int i = 0; i < n; i++) {
      int fd = ready[i].data.fd;
      if (fd == listener) {
        int conn;
        while ((conn = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          if (conn >= MAX_FDS) {
            close(conn);
            continue;
          }
          tail[conn] = 0;
          struct epoll_event c = {.events = EPOLLIN, .data.fd = conn};
          epoll_ctl(poller, EPOLL_CTL_ADD, conn, &c);
        }
        continue;
      }
      ssize_t got = recv(fd, request, sizeof request, 0);
      if (got <= 0) {
        close(fd);
        continue;
      }
      /* One answer per blank line that ends a head (wrk sends one at a time,
       * so the answer always fits the socket's buffer). */
      unsigned last = tail[fd];
      for (ssize_t j = 0; j < got; j++) {
        last = (last << 8) | (unsigned char)request[j];
        if (last == 0x0d0a0d0a) {
          ssize_t sent = send(fd, response, response_len, MSG_NOSIGNAL);
          if (sent >= 0 && (size_t)sent != response_len) {
            fprintf(stderr, "noop: a short send; the figure would be wrong\n");
            return 1;
          }
        }
      }
      tail[fd] = last;
    }
  }
}
