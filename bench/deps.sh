# Sourced by the benchmark scripts: installs from apt whatever they need and
# the machine lacks (nginx, lighttpd, wrk, ab, taskset, pgrep, python3, cc).
missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v lighttpd >/dev/null || missing+=(lighttpd)
command -v wrk >/dev/null || missing+=(wrk)
command -v ab >/dev/null || missing+=(apache2-utils)
command -v taskset >/dev/null || missing+=(util-linux)
command -v pgrep >/dev/null || missing+=(procps)
command -v python3 >/dev/null || missing+=(python3)
command -v cc >/dev/null || missing+=(gcc)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
