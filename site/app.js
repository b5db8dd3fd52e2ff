// Asks the server for one file's headers and shows them: proof that the
// script was served, and a look at what the server says about a file.
"use strict";

const shown = ["content-type", "content-length", "etag", "last-modified", "accept-ranges", "server"];

async function showHeaders() {
  const status = document.getElementById("status");
  const body = document.querySelector("#headers tbody");
  try {
    const resp = await fetch("docs/notes.txt", { method: "HEAD", cache: "no-store" });
    body.replaceChildren();
    for (const name of shown) {
      const row = body.insertRow();
      row.insertCell().textContent = name;
      row.insertCell().textContent = resp.headers.get(name) ?? "(none)";
    }
    status.textContent = `script ran: HEAD docs/notes.txt answered ${resp.status}`;
  } catch (err) {
    status.textContent = `script ran, the request failed: ${err}`;
  }
}

showHeaders();
