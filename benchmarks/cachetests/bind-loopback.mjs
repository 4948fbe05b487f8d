// Preload for the http-cache-tests server (node --import ./bind-loopback.mjs).
// server/server.mjs in 0.4.5 calls server.listen(port), which binds every
// interface; this forces any TCP listen in the process onto 127.0.0.1
// (override with CACHETESTS_HOST). Unix-socket and fd listens are untouched.
import net from 'node:net'

const host = process.env.CACHETESTS_HOST || '127.0.0.1'
const listen = net.Server.prototype.listen

net.Server.prototype.listen = function (...args) {
  const first = args[0]
  if (first !== null && typeof first === 'object' && !('fd' in first) && !('_handle' in first) && first.path === undefined) {
    args[0] = { ...first, host }
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, cb]): drop any given host, insert ours.
    const rest = args.slice(1)
    if (typeof rest[0] === 'string' || rest[0] === null || rest[0] === undefined) rest.shift()
    args = [Number(first), host, ...rest]
  } else if (first === undefined || typeof first === 'function') {
    args = [0, host, ...args.slice(first === undefined ? 1 : 0)]
  }
  return listen.apply(this, args)
}
