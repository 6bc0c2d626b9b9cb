// mqttjs_roundtrip.js URL TOPIC [CAFILE] - MQTT.js from Node: connects to URL (ws://, wss://, mqtts://),
// subscribes to TOPIC, publishes one QoS 1 message to it and prints "RECEIVED <payload>" when it comes back.
// Any failure prints "ERROR <reason>" and exits non-zero. Bounded by a 20 s timer.
'use strict';
const fs = require('fs');
const path = require('path');
const mqtt = require(path.join(__dirname, '..', '..', '..', 'node_modules', 'mqtt'));

const [url, topic, caFile] = process.argv.slice(2);
const opts = { reconnectPeriod: 0, connectTimeout: 10000, clean: true, protocolVersion: 5 };
if (caFile) {
  opts.ca = fs.readFileSync(caFile);
  opts.rejectUnauthorized = true;
}
const payload = 'hello-from-node-' + process.pid;
const client = mqtt.connect(url, opts);
const timer = setTimeout(() => { console.log('ERROR timeout'); process.exit(2); }, 20000);
client.on('connect', () => {
  client.subscribe(topic, { qos: 1 }, (err) => {
    if (err) { console.log('ERROR subscribe ' + err.message); process.exit(1); }
    client.publish(topic, payload, { qos: 1 });
  });
});
let done = false;
client.on('message', (t, m) => {
  done = true;
  console.log('RECEIVED ' + m.toString());
  clearTimeout(timer);
  client.end(false, () => process.exit(m.toString() === payload ? 0 : 1));
});
client.on('error', (e) => { console.log('ERROR ' + e.message); process.exit(1); });
client.on('close', () => { if (!done) { console.log('ERROR closed'); process.exit(1); } });
