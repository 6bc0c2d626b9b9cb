// chromium_wss.js URL TOPIC SPKI_SHA256_BASE64 - MQTT.js (its browser bundle) inside headless Chromium,
// driven by playwright-core: connects over wss to URL, subscribes to TOPIC, publishes, and prints
// "RECEIVED <payload>" when the message comes back. The broker's certificate is trusted by its public key
// hash (--ignore-certificate-errors-spki-list), so nothing else is accepted. Bounded by timers.
'use strict';
const path = require('path');
const root = path.join(__dirname, '..', '..', '..');
const { chromium } = require(path.join(root, 'node_modules', 'playwright-core'));

const [url, topic, spki] = process.argv.slice(2);
(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout: 60000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run',
           '--ignore-certificate-errors-spki-list=' + spki],
  });
  try {
    const page = await browser.newPage();
    await page.addScriptTag({ path: path.join(root, 'node_modules', 'mqtt', 'dist', 'mqtt.min.js') });
    const result = await page.evaluate(({ url, topic }) => new Promise((resolve) => {
      const payload = 'hello-from-chromium';
      const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10000 });
      const timer = setTimeout(() => resolve('ERROR timeout'), 20000);
      c.on('connect', () => c.subscribe(topic, { qos: 1 }, () => c.publish(topic, payload, { qos: 1 })));
      c.on('message', (t, m) => { clearTimeout(timer); resolve('RECEIVED ' + m.toString()); c.end(); });
      c.on('error', (e) => { clearTimeout(timer); resolve('ERROR ' + e.message); });
    }), { url, topic });
    console.log(result);
    process.exitCode = result.startsWith('RECEIVED ') ? 0 : 1;
  } finally {
    await browser.close();
  }
})().catch((e) => { console.log('ERROR ' + e.message); process.exit(1); });
