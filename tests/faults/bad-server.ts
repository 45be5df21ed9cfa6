// A misbehaving distcc server for the fault tests, run inside a server namespace:
//   garbage — reads the start of a request, answers bytes that are not the protocol, closes;
//   stall   — accepts and reads everything, never answers (until the peer gives up).
// Usage: bun tests/faults/bad-server.ts <address> <port> <garbage|stall>
const [host, portText, mode] = process.argv.slice(2);
const garbage = new TextEncoder().encode("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nnope\n\xff\xfeDONEzzzzzzzzSTAT");

Bun.listen({
  hostname: host,
  port: Number(portText),
  socket: {
    data(s, d) {
      if (mode === "garbage" && d.length > 0) {
        s.write(garbage);
        s.end();
      }
    },
  },
});
console.log(`bad-server ${mode} on ${host}:${portText}`);
// Stays up until the test stops it (it is started with startProcess, which always does).
setInterval(() => {}, 60_000);
