// Runs inside the client namespace: one TCP connect per packet (argv[2]: JSON list of
// {src, sport, dst, dport}), all at once; prints per packet "refused" (an ICMP/RST answer, as
// kube-proxy's REJECT gives) or "silent" (no answer within the wait: dropped, or DNATed to a
// backend that is not there).
import net from 'node:net';
const packets = JSON.parse(process.argv[2]);
const wait = Number(process.argv[3] ?? 600);
const results = await Promise.all(packets.map((p) => new Promise((resolve) => {
  const s = net.connect({ host: p.dst, port: p.dport, localAddress: p.src, localPort: p.sport });
  const done = (r) => { clearTimeout(timer); s.destroy(); resolve(r); };
  const timer = setTimeout(() => done('silent'), wait);
  s.on('connect', () => done('connected'));
  s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : `error ${e.code}`));
})));
process.stdout.write(JSON.stringify(results));
