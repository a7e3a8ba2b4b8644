/*
 * dashboard.test.js — the dashboard in headless chromium against a live fitd.
 *
 * Started by run.sh, which passes FITD_URL (a server without an API key),
 * FITD_KEY_URL and FITD_API_KEY (a server with one) and FITD_ARTIFACTS (where
 * screenshots go). The tests run in order and build on each other: the
 * uploaded dataset feeds the model, the model the jobs, a job the predictions.
 * Curves are checked on the chart's data (window.fitdCharts, the Chart.js
 * instances) against GET /v1/jobs/{id}/history, not on pixels.
 */
'use strict';

const { test: nodeTest, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const BASE = process.env.FITD_URL;
const KEY_BASE = process.env.FITD_KEY_URL;
const KEY = process.env.FITD_API_KEY;
const ARTIFACTS = process.env.FITD_ARTIFACTS || path.join(__dirname, '..', '..', 'build', 'web-artifacts');
if (!BASE || !KEY_BASE || !KEY)
	throw new Error('run through tests/web/run.sh (FITD_URL, FITD_KEY_URL and FITD_API_KEY are unset)');

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-gpu',
	'--disable-component-update', '--disable-sync', '--no-first-run'];
const SERIES = ['loss', 'val_loss', 'accuracy', 'val_accuracy'];
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'fitd-web-test-'));

let browser, context, page;
const pageErrors = [];
const ids = {}; /* what earlier tests created */

/* ---- helpers --------------------------------------------------------------------------------- */

/* A seeded generator (mulberry32) and normal samples: the same data on every run. */
function rng(seed) {
	let a = seed >>> 0;
	const u = () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
	return { u, normal: () => Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u()) };
}

/*
 * A learnable 4-class CSV: class k lifts every feature j with j % 4 == k.
 * The label is the FIRST column, so the page's label-column choice matters.
 */
function blobs(rows, features, seed) {
	const r = rng(seed);
	const lines = [['label', ...Array.from({ length: features }, (_, j) => `f${j}`)].join(',')];
	const samples = [];
	for (let i = 0; i < rows; i++) {
		const k = i % 4;
		const x = Array.from({ length: features }, (_, j) => Number((r.normal() + (j % 4 === k ? 0.7 : 0)).toFixed(3)));
		samples.push({ x, y: k });
		lines.push([k, ...x].join(','));
	}
	return { csv: lines.join('\n') + '\n', samples };
}

function writeTmp(name, text) {
	const file = path.join(TMP, name);
	fs.writeFileSync(file, text);
	return file;
}

async function api(method, p, body, base = BASE, key = null) {
	const headers = { Accept: 'application/json' };
	if (key)
		headers.Authorization = `Bearer ${key}`;
	if (body !== undefined)
		headers['Content-Type'] = 'application/json';
	const res = await fetch(base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
	const text = await res.text();
	return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

/* A GET with the path sent exactly as written (fetch would normalise "..", "%2e%2e"). */
function rawGet(base, rawPath) {
	const u = new URL(base);
	return new Promise((resolve, reject) => {
		const req = http.request({ host: u.hostname, port: u.port, path: rawPath, method: 'GET' }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
		});
		req.on('error', reject);
		req.end();
	});
}

/* The job page's chart data: {jobId, done, loss: [[epoch, y], ...], val_loss: ..., ...}, or null. */
function chartData(p = page) {
	return p.evaluate(() => {
		const c = window.fitdCharts;
		if (!c)
			return null;
		const out = { jobId: c.jobId, done: !!c.done };
		for (const chart of [c.loss, c.accuracy, c.metrics])
			for (const d of chart.data.datasets)
				out[d.label] = d.data.map((pt) => [pt.x, pt.y]);
		/* the exposed charts are the ones drawn on the page's canvases */
		out.sameCharts = Chart.getChart(document.getElementById('chart-loss')) === c.loss &&
			Chart.getChart(document.getElementById('chart-accuracy')) === c.accuracy;
		return out;
	}).catch(() => null); /* the page is between two documents */
}

/* What the chart should hold for the first n epochs of a history. */
function expected(history, n = history.length) {
	const out = {};
	for (const k of SERIES)
		out[k] = history.slice(0, n).filter((e) => typeof e[k] === 'number').map((e) => [e.epoch, e[k]]);
	return out;
}

/* The chart holds exactly the first epochs of the history, value for value. */
async function assertChartIsHistoryPrefix(jobId, base = BASE, key = null, p = page) {
	const data = await chartData(p);
	const h = await api('GET', `/v1/jobs/${jobId}/history`, undefined, base, key);
	assert.equal(h.status, 200);
	const n = data.loss.length;
	assert.ok(n <= h.body.epochs.length, `the chart has ${n} epochs, the history only ${h.body.epochs.length}`);
	const want = expected(h.body.epochs, n);
	for (const k of SERIES)
		assert.deepEqual(data[k], want[k], `chart series ${k} differs from the history`);
	assert.ok(data.sameCharts, 'window.fitdCharts are the charts on the page');
	return { n, history: h.body.epochs };
}

/* Polls fn until it returns a truthy value. */
async function until(what, fn, timeoutMs = 20000, stepMs = 100) {
	const end = Date.now() + timeoutMs;
	for (;;) {
		const v = await fn();
		if (v)
			return v;
		if (Date.now() > end)
			throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, stepMs));
	}
}

async function jobStatus(id, base = BASE, key = null) {
	return (await api('GET', `/v1/jobs/${id}`, undefined, base, key)).body.status;
}

async function go(hash, p = page) {
	await p.goto(`${p === page ? BASE : KEY_BASE}/${hash}`);
}

async function newPage(ctx) {
	const p = await ctx.newPage();
	p.setDefaultTimeout(15000);
	p.on('pageerror', (e) => pageErrors.push(e.message));
	p.on('dialog', (d) => d.accept());
	return p;
}

/* A test that leaves a screenshot of the page behind when it fails. */
function test(name, fn) {
	nodeTest(name, async () => {
		try {
			await fn();
		} catch (err) {
			const file = `failure-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}.png`;
			await page?.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true }).catch(() => {});
			throw err;
		}
	});
}

/* ---- set-up ------------------------------------------------------------------------------------ */

before(async () => {
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
	context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
	page = await newPage(context);
});

after(async () => {
	await browser?.close();
	fs.rmSync(TMP, { recursive: true, force: true });
});

/* ---- the tests ---------------------------------------------------------------------------------- */

test('static files: content types, cache headers, no path traversal', async () => {
	const want = {
		'/': 'text/html', '/index.html': 'text/html', '/app.js': 'text/javascript', '/style.css': 'text/css',
		'/vendor/chart.js/chart.min.js': 'text/javascript',
	};
	for (const [p, type] of Object.entries(want)) {
		const res = await rawGet(BASE, p);
		assert.equal(res.status, 200, `GET ${p}`);
		assert.ok(res.headers['content-type'].startsWith(type), `GET ${p}: ${res.headers['content-type']}`);
		assert.ok(res.headers['cache-control'], `GET ${p} has a Cache-Control header`);
	}
	assert.match((await rawGet(BASE, '/')).body, /<script src="\/app.js"/);
	for (const p of ['/../fitd.db', '/%2e%2e/fitd.db', '/%2E%2E/fitd.db', '/web/../../etc/passwd', '/../../../../etc/passwd',
		'/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '/vendor/../../../etc/passwd',
		'/vendor/%2e%2e/%2e%2e/etc/passwd', '/.git/config', '/%2fetc%2fpasswd', '//etc/passwd', '/web/index.html',
		'/server/main.c', '/no-such-file.js']) {
		const res = await rawGet(BASE, p);
		assert.equal(res.status, 404, `GET ${p} → ${res.status}`);
		assert.doesNotMatch(res.body, /root:|SQLite format/, `GET ${p} leaked a file`);
	}
});

test('datasets: upload a CSV choosing the label column, list it, delete one', async () => {
	const data = blobs(8000, 32, 1);
	ids.samples = data.samples;
	await go('#/datasets');
	await page.setInputFiles('#upload-form input[type=file]', writeTmp('blobs.csv', data.csv));
	const label = page.locator('#upload-form select[data-field=label]');
	await assert.doesNotReject(label.locator('option', { hasText: 'label (column 0)' }).waitFor({ state: 'attached' }));
	assert.equal(await label.inputValue(), 'f31', 'the last column is the default label (by name, with a header)');
	await label.selectOption('label');
	await page.fill('#upload-form [data-field=name]', 'blobs');
	assert.ok(await page.isChecked('#upload-form [data-field=header]'));
	await page.click('#upload-form button[type=submit]');
	await page.locator('#upload-form .status', { hasText: 'Uploaded' }).waitFor();
	const list = (await api('GET', '/v1/datasets')).body.items;
	const ds = list.find((d) => d.name === 'blobs');
	assert.ok(ds, 'the dataset exists');
	assert.equal(ds.n_samples, 8000);
	assert.equal(ds.n_features, 32);
	assert.equal(ds.n_classes, 4);
	ids.dataset = ds.id;
	const row = page.locator(`tr[data-id="${ds.id}"]`);
	await row.waitFor();
	assert.match(await row.innerText(), /blobs\s+8000\s+32\s+class\s+4/);

	/* a second upload, then its deletion */
	await page.setInputFiles('#upload-form input[type=file]', writeTmp('scratch.csv', 'a,b,y\n1,2,0\n3,4,1\n'));
	await page.fill('#upload-form [data-field=name]', 'scratch');
	await page.click('#upload-form button[type=submit]');
	await page.locator('#upload-form .status', { hasText: 'Uploaded “scratch”' }).waitFor();
	const scratch = (await api('GET', '/v1/datasets')).body.items.find((d) => d.name === 'scratch');
	await page.locator(`tr[data-id="${scratch.id}"] button[data-action=delete]`).click();
	await page.locator(`tr[data-id="${scratch.id}"]`).waitFor({ state: 'detached' });
	assert.equal((await api('GET', `/v1/datasets/${scratch.id}`)).status, 404);

	/* a bad cell: the API's message lands next to the file input */
	await page.setInputFiles('#upload-form input[type=file]', writeTmp('bad.csv', 'a,b,y\n1,2,0\n3,x,1\n'));
	await page.click('#upload-form button[type=submit]');
	const err = page.locator('#upload-form .field-error[data-error-for=file]');
	await err.waitFor();
	assert.match(await err.innerText(), /line 3, column 2/);
});

test('datasets: a CSV as people have it — delimiter, text columns, missing cells, label by name; its page', async () => {
	const rows = [['bill', 'island', 'mass', 'species']];
	const islands = ['Torgersen', 'Biscoe', 'Dream'];
	const species = ['Adelie', 'Gentoo', 'Chinstrap'];
	for (let i = 0; i < 45; i++)
		rows.push([i % 9 === 4 ? 'NA' : (38 + (i % 3) * 5 + (i % 5) / 10).toFixed(1), islands[i % 3], String(3600 + 40 * i), species[i % 3]]);
	await go('#/datasets');
	await page.selectOption('#upload-form select[data-field=delimiter]', ';');
	await page.setInputFiles('#upload-form input[type=file]', writeTmp('penguins.csv', rows.map((r) => r.join(';')).join('\n') + '\n'));
	const label = page.locator('#upload-form select[data-field=label]');
	await label.locator('option', { hasText: 'species (column 3)' }).waitFor({ state: 'attached' });
	await label.selectOption('species');
	await page.fill('#upload-form [data-field=name]', 'penguins');
	await page.click('#upload-form button[type=submit]');
	const status = page.locator('#upload-form .status', { hasText: 'Uploaded “penguins”' });
	await status.waitFor();
	try {
		await penguinsPage(status);
	} finally {
		/* later tests pick the newest dataset: leave none behind */
		const ds = (await api('GET', '/v1/datasets')).body.items.find((d) => d.name === 'penguins');
		if (ds)
			await api('DELETE', `/v1/datasets/${ds.id}`);
	}
});

async function penguinsPage(status) {
	/* the detected kinds before any training */
	assert.match(await status.innerText(), /2 numeric, 1 categorical/);
	assert.match(await status.innerText(), /5 missing cells/);
	assert.match(await status.innerText(), /classes Adelie, Chinstrap, Gentoo/);
	await status.locator('a[data-action=open-dataset]').click();
	const table = page.locator('#columns-table');
	await table.waitFor();
	assert.equal(await table.locator('tr[data-column=island]').getAttribute('data-kind'), 'categorical');
	assert.equal(await table.locator('tr[data-column=bill]').getAttribute('data-kind'), 'numeric');
	assert.match(await table.locator('tr[data-column=bill]').innerText(), /bill\s+feature\s+numeric\s+40\s+5/);
	assert.match(await table.locator('tr[data-column=island]').innerText(), /Torgersen \(15\)/);
	assert.match(await page.locator('#class-names').innerText(), /Adelie, Chinstrap, Gentoo/);
	/* the preview: names as headers, values by name, missing as a dash; paging */
	const preview = page.locator('#rows-preview table');
	await preview.locator('caption', { hasText: 'Rows 1–20 of 45' }).waitFor();
	assert.deepEqual(await preview.locator('thead th').allTextContents(), ['bill', 'island', 'mass', 'species']);
	assert.deepEqual(await preview.locator('tbody tr').nth(4).locator('td').allTextContents(), ['—', 'Biscoe', '3760', 'Gentoo']);
	await page.click('button[data-action=next]');
	await preview.locator('caption', { hasText: 'Rows 21–40 of 45' }).waitFor();
	await page.click('button[data-action=next]');
	await page.locator('#rows-preview caption', { hasText: 'Rows 41–45 of 45' }).waitFor();
	assert.ok(await page.isDisabled('button[data-action=next]'));
}

test('models: a bad form shows the API validation error next to its field', async () => {
	await go('#/models');
	await page.click('#preset-tutorial');
	await page.fill('[data-field="layers[0].units"]', '0');
	await page.click('#model-form button[type=submit]');
	const err = page.locator('#model-form .field-error[data-error-for="layers[0].units"]');
	await err.waitFor();
	assert.equal(await err.innerText(), 'layers[0].units must be an integer in 1..65536');
	/* inside the field of that very input, which is marked invalid and described by it */
	const input = page.locator('[data-field="layers[0].units"]');
	assert.equal(await input.getAttribute('aria-invalid'), 'true');
	const errId = await err.getAttribute('id');
	assert.ok((await input.getAttribute('aria-describedby')).split(' ').includes(errId));
	assert.equal(await page.locator('#model-form .field-error').count(), 1);
	assert.equal(await page.evaluate(() => document.activeElement.dataset.field), 'layers[0].units');

	/* an optimizer hyper-parameter: its own field */
	await page.fill('[data-field="layers[0].units"]', '25');
	await page.fill('[data-field="optimizer.learning_rate"]', '-1');
	await page.click('#model-form button[type=submit]');
	await page.locator('#model-form .field-error[data-error-for="optimizer.learning_rate"]').waitFor();
	assert.equal(await page.locator('[data-field="layers[0].units"]').getAttribute('aria-invalid'), null, 'old errors are cleared');

	/* the JSON editor, opened by keyboard: a typo'd key is named next to the editor */
	await page.focus('#model-json > summary');
	await page.keyboard.press('Enter');
	await page.fill('#model-json-form textarea', JSON.stringify({
		name: 'typo', input_dim: 32, layers: [{ type: 'dense', units: 4, activation: 'softmax' }],
		loss: 'sparse_categorical_crossentropy', optimizer: { type: 'adam', learning_rte: 0.01 },
	}));
	await page.click('#model-json-form button[type=submit]');
	const jerr = page.locator('#model-json-form .field-error[data-error-for=json]');
	await jerr.waitFor();
	assert.match(await jerr.innerText(), /learning_rte/);
	assert.equal((await api('GET', '/v1/models')).body.total, 0, 'nothing was created');
});

test('models: the tutorial model from the form, one click away', async () => {
	await go('#/models');
	/* the form opens on the tutorial; the newest dataset sets its shape */
	await page.locator('select option', { hasText: 'blobs' }).first().waitFor({ state: 'attached' });
	await page.click('#preset-tutorial');
	assert.equal(await page.inputValue('[data-field=input_dim]'), '32');
	assert.equal(await page.inputValue('[data-field="layers[2].units"]'), '4');
	await page.focus('#model-form [data-field=name]');
	await page.keyboard.press('Enter'); /* keyboard submit */
	await page.locator('#banner', { hasText: 'Created model' }).waitFor();
	const models = (await api('GET', '/v1/models')).body.items;
	assert.equal(models.length, 1);
	const m = models[0];
	ids.model = m.id;
	assert.equal(m.name, 'tutorial');
	assert.equal(m.input_dim, 32);
	assert.deepEqual(m.layers.map((l) => [l.type, l.units, l.activation]),
		[['dense', 25, 'relu'], ['dense', 15, 'relu'], ['dense', 4, 'softmax']]);
	assert.equal(m.loss, 'sparse_categorical_crossentropy');
	assert.equal(m.optimizer.type, 'adam');
	assert.equal(m.optimizer.learning_rate, 0.001);
	assert.deepEqual(m.metrics, ['accuracy']);
	const params = page.locator(`tr[data-id="${m.id}"] [data-col=n_params]`);
	await params.waitFor();
	assert.equal(await params.innerText(), String(32 * 25 + 25 + 25 * 15 + 15 + 15 * 4 + 4));
});

/* Starts a job from the jobs form; returns its id once the job page shows. */
async function startJob({ model = ids.model, epochs, batch, split = '0.2', seed = '7' }, p = page) {
	await go(`#/jobs?model=${model}`, p);
	await p.locator('#job-form [data-field=model_id] option').first().waitFor({ state: 'attached' });
	await p.fill('#job-form [data-field=epochs]', String(epochs));
	await p.fill('#job-form [data-field=batch_size]', String(batch));
	await p.fill('#job-form [data-field=validation_split]', split);
	await p.fill('#job-form [data-field=seed]', seed);
	await p.click('#job-form button[type=submit]');
	await p.waitForURL(/#\/jobs\/\d+$/);
	return Number(/#\/jobs\/(\d+)$/.exec(p.url())[1]);
}

test('a job: the curves grow per epoch, survive a reload mid-training, then it is cancelled', async () => {
	const id = await startJob({ epochs: 20000, batch: 1 });
	ids.longJob = id;
	await until('the first epochs on the chart', async () => (await chartData())?.loss.length > 0);
	assert.equal((await chartData()).jobId, id);

	/* the curve gains points while the job runs, each one equal to the history */
	const seen = [];
	await until('the curve to grow three times', async () => {
		const { n } = await assertChartIsHistoryPrefix(id);
		if (!seen.length || n > seen[seen.length - 1])
			seen.push(n);
		return seen.length >= 4;
	}, 30000, 50);
	assert.equal(await jobStatus(id), 'running');
	await page.locator('h1 [data-status=running]').waitFor();

	/* reload mid-training: the whole curve comes back, and keeps growing */
	const before = (await chartData()).loss.length;
	await page.reload();
	const after = await until('the curve after the reload', async () => {
		const d = await chartData();
		return d && d.jobId === id && d.loss.length >= before ? d.loss.length : 0;
	});
	assert.equal(await jobStatus(id), 'running', 'still training after the reload');
	await assertChartIsHistoryPrefix(id);
	await until('more epochs after the reload', async () => (await chartData()).loss.length > after);
	await assertChartIsHistoryPrefix(id);
	assert.ok(await page.isVisible('#chart-loss'));
	assert.ok(await page.isVisible('#chart-accuracy'));
	await page.screenshot({ path: path.join(ARTIFACTS, 'job-running.png'), fullPage: true });

	/* cancel: the page says so, and the final curve is the whole history */
	await page.click('#cancel-job');
	await page.locator('h1 [data-status=cancelled]').waitFor();
	assert.equal(await jobStatus(id), 'cancelled');
	await until('the stream to end', async () => (await chartData()).done);
	const h = (await api('GET', `/v1/jobs/${id}/history`)).body.epochs;
	const d = await chartData();
	for (const k of SERIES)
		assert.deepEqual(d[k], expected(h)[k], `final ${k}`);
	assert.ok(await page.isDisabled('#cancel-job'));
});

test('a model from the JSON editor runs to the end: complete curves equal the history; the predict box', async () => {
	/* a fresh copy of the tutorial through the JSON editor, so that this curve starts from scratch */
	await go('#/models');
	await page.locator('select option', { hasText: 'blobs' }).first().waitFor({ state: 'attached' });
	await page.click('#model-json > summary');
	await page.click('#model-json-form button:has-text("Copy from form")');
	const body = JSON.parse(await page.inputValue('#model-json-form textarea'));
	assert.equal(body.input_dim, 32);
	body.name = 'tutorial-json';
	body.seed = 42;
	body.metrics = ['accuracy', 'precision', 'auc']; /* drawn on the metrics chart */
	await page.fill('#model-json-form textarea', JSON.stringify(body, null, 2));
	await page.click('#model-json-form button[type=submit]');
	await page.locator('#banner', { hasText: 'Created model' }).waitFor();
	const model = (await api('GET', '/v1/models')).body.items.find((m) => m.name === 'tutorial-json');
	assert.equal(model.seed, 42);
	assert.equal(model.n_params, 1279);

	const id = await startJob({ model: model.id, epochs: 30, batch: 64 });
	ids.job = id;
	await page.locator('h1 [data-status=succeeded]').waitFor({ timeout: 60000 });
	await until('the stream to end', async () => (await chartData()).done);
	const h = (await api('GET', `/v1/jobs/${id}/history`)).body.epochs;
	assert.equal(h.length, 30);
	const d = await chartData();
	for (const k of SERIES)
		assert.deepEqual(d[k], expected(h)[k], `final ${k}`);
	for (const k of ['precision', 'val_precision', 'auc', 'val_auc']) {
		assert.ok(h.every((e) => typeof e[k] === 'number'), `every epoch has ${k}`);
		assert.deepEqual(d[k], h.map((e) => [e.epoch, e[k]]), `final ${k}`);
	}
	assert.deepEqual(d.recall, [], 'a metric the model did not ask for is not drawn');
	assert.ok(await page.isVisible('#chart-metrics'));
	assert.match(await page.locator('[data-fact=val_auc]').innerText(), /^0\.\d+|^1$/);
	assert.match(await page.locator('[data-fact=Progress]').innerText(), /30\/30/);
	assert.ok(h[h.length - 1].val_accuracy > 0.8, `the model learned (val_accuracy ${h[h.length - 1].val_accuracy})`);

	/* predictions: rows pasted as CSV, then as JSON */
	const rows = ids.samples.slice(0, 4);
	const form = page.locator('form.predict');
	await form.locator('textarea').fill(rows.map((s) => s.x.join(', ')).join('\n'));
	await form.locator('button[type=submit]').click();
	const out = form.locator('.predict-out tbody tr');
	await out.nth(3).waitFor();
	assert.equal(await out.count(), 4);
	const ref = await api('POST', `/v1/models/${model.id}/predict?store=false`, { instances: rows.map((s) => s.x) });
	for (let r = 0; r < 4; r++) {
		const row = out.nth(r);
		const cls = Number(await row.getAttribute('data-class'));
		assert.equal(cls, ref.body.classes[r], `row ${r} class`);
		assert.equal(await row.locator('td.cls').innerText(), String(cls));
		const probs = (await row.locator('td[data-p]').allInnerTexts()).map(Number);
		assert.equal(probs.length, 4);
		probs.forEach((p, i) => assert.ok(Math.abs(p - ref.body.predictions[r][i]) < 1e-4, `row ${r} P(${i})`));
		assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 2e-3, 'probabilities sum to 1');
		assert.equal(await row.locator('td.best').getAttribute('data-p'), String(cls), 'the class is highlighted');
	}
	await page.screenshot({ path: path.join(ARTIFACTS, 'job.png'), fullPage: true });

	await form.locator('textarea').fill(JSON.stringify([rows[0].x]));
	await form.locator('button[type=submit]').click();
	await out.nth(0).waitFor();
	assert.equal(await out.count(), 1);

	/* a row of the wrong width: the API's message next to the rows */
	await form.locator('textarea').fill('1, 2, 3');
	await form.locator('button[type=submit]').click();
	const err = form.locator('.field-error[data-error-for=instances]');
	await err.waitFor();
	assert.match(await err.innerText(), /instances\[0\] must be an array of 32 numbers/);
});

test('a dropped event stream reconnects with Last-Event-ID and misses nothing', async () => {
	const id = ids.job;
	/* the job's real stream, cut after its first epochs as a dropped connection would cut it */
	const full = await (await fetch(`${BASE}/v1/jobs/${id}/events`)).text();
	const events = full.split('\n\n').filter((e) => /^id: /m.test(e));
	const cut = events.slice(0, 6);
	const cutId = /^id: (\d+)$/m.exec(cut[cut.length - 1])[1];
	const asked = [];
	const pattern = `**/v1/jobs/${id}/events`;
	await page.route(pattern, (route) => {
		asked.push(route.request().headers()['last-event-id'] ?? null);
		if (asked.length > 1)
			return route.continue();
		return route.fulfill({
			status: 200, headers: { 'Content-Type': 'text/event-stream' },
			body: `retry: 100\n\n${cut.join('\n\n')}\n\n`,
		});
	});
	try {
		await page.goto('about:blank');
		await go(`#/jobs/${id}`);
		await until('the stream to end', async () => (await chartData())?.done);
	} finally {
		await page.unroute(pattern);
	}
	assert.deepEqual(asked, [null, cutId], 'the second request resumes after the last event received');
	const h = (await api('GET', `/v1/jobs/${id}/history`)).body.epochs;
	const d = await chartData();
	for (const k of SERIES)
		assert.deepEqual(d[k], expected(h)[k], `${k} after the reconnection`);
});

test('jobs list: progress, and cancelling a second job from the list', async () => {
	const id = await startJob({ epochs: 20000, batch: 1 });
	await go('#/jobs');
	const row = page.locator(`tr[data-id="${id}"][data-status=running]`);
	await row.waitFor();
	assert.ok(await page.locator(`tr[data-id="${ids.job}"][data-status=succeeded]`).isVisible());
	assert.match(await page.locator(`tr[data-id="${ids.job}"]`).innerText(), /30\/30/);
	await row.locator('button[data-action=cancel]').click();
	await page.locator(`tr[data-id="${id}"][data-status=cancelled]`).waitFor();
	assert.equal(await jobStatus(id), 'cancelled');
	assert.equal(await page.locator(`tr[data-id="${id}"] button[data-action=cancel]`).count(), 0);
});

/* The overlaid charts of the page: {series: [[[epoch, y], ...] per line]}. */
function overlayData(p = page) {
	return p.evaluate(() => {
		const out = {};
		for (const [k, c] of Object.entries(window.fitdCharts.charts))
			out[k] = c.data.datasets.map((d) => d.data.map((pt) => [pt.x, pt.y]));
		return out;
	});
}

/* One line per job of each series, as the histories say. */
async function assertOverlayIsHistories(jobIds) {
	const histories = [];
	for (const id of jobIds)
		histories.push((await api('GET', `/v1/jobs/${id}/history`)).body.epochs);
	const charts = await overlayData();
	for (const series of SERIES) {
		assert.ok(charts[series], `a chart of ${series}`);
		assert.deepEqual(charts[series], histories.map((rows) => rows.map((e) => [e.epoch, e[series]])), series);
	}
	return histories;
}

test('sweeps: the ranked table as the histories rank it, links to each point\'s job and model, overlaid curves', async () => {
	const { samples } = blobs(240, 8, 11);
	const ds = await api('POST', '/v1/datasets', { name: 'sweep-data', x: samples.map((x) => x.x), y: samples.map((x) => x.y) });
	assert.equal(ds.status, 201);
	const r = await api('POST', '/v1/sweeps', {
		name: 'web grid',
		model: {
			input_dim: 8, layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 4, activation: 'softmax' }],
			loss: 'sparse_categorical_crossentropy', optimizer: { type: 'adam', learning_rate: 0.001 }, metrics: ['accuracy'], seed: 3,
		},
		job: { dataset_id: ds.body.id, epochs: 8, validation_split: 0.25, seed: 4 },
		grid: { 'optimizer.learning_rate': [0.001, 0.05], 'layers[0].units': [4, 16] },
		metric: 'val_loss',
	});
	assert.equal(r.status, 202);
	ids.sweep = r.body.id;
	await go('#/sweeps');
	await page.locator(`tr[data-id="${ids.sweep}"] a`).click();
	await until('the sweep page to end', () => page.evaluate((id) => window.fitdCharts?.sweepId === id && window.fitdCharts.done, ids.sweep));
	const s = (await api('GET', `/v1/sweeps/${ids.sweep}`)).body;
	assert.equal(s.status, 'succeeded');
	await page.locator('#sweep-points tbody tr[data-status=succeeded]').nth(3).waitFor();

	/* An independent ranking: each point's least val_loss over its history, ties by index. */
	const byIndex = s.points.slice().sort((a, b) => a.index - b.index);
	const histories = await assertOverlayIsHistories(byIndex.map((p) => p.job_id));
	const best = histories.map((rows) => Math.min(...rows.map((e) => e.val_loss)));
	const order = byIndex.map((p) => p.index).sort((a, b) => best[a] - best[b] || a - b);
	assert.deepEqual(s.points.map((p) => p.index), order);
	const rows = await page.locator('#sweep-points tbody tr').evaluateAll((trs) => trs.map((tr) => ({
		index: Number(tr.dataset.index), job: tr.querySelector('[data-link=job]').getAttribute('href'),
		model: tr.querySelector('[data-link=model]').getAttribute('href'),
		units: tr.querySelector('[data-param="layers[0].units"]').textContent,
	})));
	assert.deepEqual(rows.map((x) => x.index), order, 'the table is ranked');
	for (const [i, p] of s.points.entries()) {
		assert.equal(rows[i].job, `#/jobs/${p.job_id}`);
		assert.equal(rows[i].model, `#/models/${p.model_id}`);
		assert.equal(rows[i].units, String(p.params['layers[0].units']));
	}
	await page.locator('#sweep-points tbody tr').first().locator('[data-link=model]').click();
	await page.waitForURL(new RegExp(`#/models/${s.points[0].model_id}$`));
	await go(`#/sweeps/${ids.sweep}`);
	await page.locator('#sweep-points tbody tr').first().locator('[data-link=job]').click();
	await page.waitForURL(new RegExp(`#/jobs/${s.points[0].job_id}$`));
});

test('compare: jobs ticked in the list, their curves overlaid equal their histories', async () => {
	const s = (await api('GET', `/v1/sweeps/${ids.sweep}`)).body;
	const pick = [s.points[0].job_id, s.points[1].job_id, ids.job].sort((a, b) => a - b);
	await go('#/jobs');
	for (const id of pick)
		await page.locator(`tr[data-id="${id}"] input[data-action=compare]`).check();
	await page.locator('#compare-jobs').click();
	await page.waitForURL(new RegExp(`#/compare\\?jobs=${pick.join(',')}$`));
	await until('the compared curves', () => page.evaluate(() => Array.isArray(window.fitdCharts?.compare) && window.fitdCharts.done));
	await assertOverlayIsHistories(pick);
	assert.equal(await page.locator('#compare-form input').inputValue(), pick.join(', '));
});

test('accessibility basics: labelled controls, no overflow on a narrow screen', async () => {
	for (const view of ['#/datasets', '#/models', '#/jobs', `#/jobs/${ids.job}`, `#/models/${ids.model}`, '#/sweeps',
		`#/sweeps/${ids.sweep}`, `#/compare?jobs=${ids.job}`]) {
		for (const size of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
			await page.setViewportSize(size);
			await page.goto('about:blank');
			await go(view);
			await page.locator('main h1').waitFor();
			await page.waitForLoadState('networkidle').catch(() => {});
			await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
			const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
				.filter((el) => el.type !== 'hidden' && !el.labels?.length && !el.getAttribute('aria-label'))
				.map((el) => el.outerHTML));
			assert.deepEqual(unlabelled, [], `${view}: controls without a label`);
			const overflow = await page.evaluate(() => ({
				px: document.documentElement.scrollWidth - window.innerWidth,
				culprits: [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
					.slice(0, 5).map((e) => `${e.tagName.toLowerCase()}.${e.className}`),
			}));
			assert.ok(overflow.px <= 1, `${view} at ${size.width}px: ${overflow.px}px of horizontal overflow (${overflow.culprits})`);
			const shot = `view-${view.slice(2).replace(/\//g, '-')}-${size.width}.png`;
			await page.screenshot({ path: path.join(ARTIFACTS, shot), fullPage: true });
		}
	}
	await page.setViewportSize({ width: 1280, height: 800 });
	/* keyboard: Tab reaches the skip link, then the navigation */
	await go('#/datasets');
	await page.keyboard.press('Tab');
	assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
	await page.keyboard.press('Tab');
	await page.keyboard.press('Tab');
	await page.keyboard.press('Tab');
	assert.equal(await page.evaluate(() => document.activeElement.dataset.nav), 'models');
	await page.keyboard.press('Enter');
	await page.waitForURL(/#\/models$/);
});

test('with --api-key: the key entered in the page is sent on every call and on the event stream', async () => {
	const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
	const p = await newPage(ctx);
	try {
		await go('#/datasets', p);
		const keyErr = p.locator('#key-form .field-error[data-error-for=api_key]');
		await keyErr.waitFor();
		assert.match(await keyErr.innerText(), /API key/);

		await p.fill('#api-key', KEY);
		await p.click('#key-form button[type=submit]');
		await p.locator('td.empty', { hasText: 'No datasets yet' }).waitFor();
		assert.equal(await keyErr.count(), 0);
		assert.equal(await p.evaluate(() => localStorage.getItem('fitd.apiKey')), KEY);

		const data = blobs(2000, 8, 2);
		await p.setInputFiles('#upload-form input[type=file]', writeTmp('keyed.csv', data.csv));
		await p.selectOption('#upload-form select[data-field=label]', 'label');
		await p.click('#upload-form button[type=submit]');
		await p.locator('#upload-form .status', { hasText: 'Uploaded' }).waitFor();

		await go('#/models', p);
		await p.locator('select option', { hasText: 'keyed' }).first().waitFor({ state: 'attached' });
		await p.click('#preset-tutorial');
		await p.click('#model-form button[type=submit]');
		await p.locator('#banner', { hasText: 'Created model' }).waitFor();
		const models = (await api('GET', '/v1/models', undefined, KEY_BASE, KEY)).body.items;
		assert.equal(models.length, 1);
		ids.model = models[0].id; /* for startJob on this server */

		const id = await startJob({ epochs: 60, batch: 4 }, p);
		await p.locator('h1 [data-status=succeeded]').waitFor({ timeout: 60000 });
		await until('the stream to end', async () => (await chartData(p)).done);
		const { n } = await assertChartIsHistoryPrefix(id, KEY_BASE, KEY, p);
		assert.equal(n, 60);

		/* the page kept the key: a reload still reads the stream */
		await p.reload();
		await until('the replayed curve', async () => (await chartData(p))?.done);
		assert.equal((await assertChartIsHistoryPrefix(id, KEY_BASE, KEY, p)).n, 60);
		assert.equal((await api('GET', '/v1/models', undefined, KEY_BASE)).status, 401, 'the server does want the key');
	} finally {
		await ctx.close();
	}
});

test('no script errors on any page', () => {
	assert.deepEqual(pageErrors, []);
});
