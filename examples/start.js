// Start a UiPath process through orchd from Node.js, no dependencies.
// Usage: node start.js PROCESS
const net = require("net");

const path = process.env.ORCHD_SOCKET || "/run/orchd/orchd.sock";
const request = { process: process.argv[2], input: { InvoiceId: 42 } };
const sock = net.createConnection(path, () => sock.write("START " + JSON.stringify(request) + "\n"));
let buf = "";
sock.setEncoding("utf8");
sock.on("data", (chunk) => {
  buf += chunk;
  const nl = buf.indexOf("\n");
  if (nl < 0) return;
  const line = buf.slice(0, nl);
  sock.end();
  if (!line.startsWith("OK ")) {
    console.error("orchd: " + line);
    process.exitCode = 1;
    return;
  }
  for (const job of JSON.parse(line.slice(3)).jobs) console.log(job.id, job.state);
});
sock.on("error", (err) => {
  console.error("orchd: " + err.message);
  process.exitCode = 3;
});
