// For e2e/stop.py: a socket.io-client connection that prints "connected", then, when the server
// goes, why and whether the client will reconnect by itself.
//   node e2e/node/stop-client.mjs URL TOKEN
import { io } from "socket.io-client";

const [url, token] = process.argv.slice(2);
const socket = io(url, { auth: { token }, transports: ["websocket"], reconnectionDelay: 60_000 });
socket.on("connect", () => console.log("connected"));
socket.on("connect_error", (err) => {
  console.log(`connect_error ${err.message}`);
  process.exit(1);
});
socket.on("disconnect", (reason) => {
  console.log(`disconnect ${reason} reconnecting=${socket.active}`);
  process.exit(0);
});
