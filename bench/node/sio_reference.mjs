// A plain Socket.IO 4 server, the reference bench/sockets.sh measures Parlor's Socket.IO against
// with the same load client (bench/sockets_load.rs): it answers the client's registration with a
// token it ignores, keeps every socket in one room, and on the client's avatar upload emits one
// `user.avatar_updated` event with the time it was raised to every socket, as Parlor does.
//
//   node sio_reference.mjs PORT
import http from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2]);
const server = http.createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const reply = (status, data) => {
      const body = JSON.stringify({ status: "success", data });
      // Content-Length rather than chunks: the load client reads a plain body.
      response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      response.end(body);
    };
    if (request.method === "POST" && request.url === "/api/v1/auth/register") {
      reply(201, { access_token: "reference" });
    } else if (request.method === "PUT" && request.url === "/api/v1/me/avatar") {
      io.to("everyone").emit("user.avatar_updated", { at: new Date().toISOString() });
      reply(200, {});
    } else {
      reply(404, {});
    }
  });
});
const io = new Server(server, { transports: ["websocket"], serveClient: false });
io.on("connection", (socket) => socket.join("everyone"));
server.listen(port, "127.0.0.1", () => console.log(`listening on ${port}`));
