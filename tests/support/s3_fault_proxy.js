#!/usr/bin/env node
// A fault-injecting HTTP proxy for the S3 tests: it forwards requests to an S3 server (s3rver)
// and spoils some of them, the way a flaky network or an overloaded server would.
//
// Usage: node s3_fault_proxy.js --upstream http://127.0.0.1:PORT --port-file FILE
//            [--every N | --probability P --seed S] [--faults 500,503,drop,slow,reset]
//            [--match REGEX] [--slow-ms MS] [--log-all] [--verify-sigv4 SECRET_KEY]
//
// Which requests: the N-th, 2N-th, ... (--every N), or each with probability P from a seeded
// generator (--probability P --seed S), counting only requests whose "METHOD /path" matches
// --match (default: all). --every 1 spoils every matching request (a failure that never ends).
// What is done to them, taking the --faults kinds in turn:
//   500    answers 500 InternalError without forwarding
//   503    answers 503 SlowDown without forwarding
//   drop   forwards, then sends the response's headers and half of its body and cuts the
//          connection (a response cut short mid-body)
//   reset  forwards the request, then closes the connection without an answer
//   slow   forwards, and holds the answer back for --slow-ms (default 1500) before sending it
// The proxy listens on a free port of 127.0.0.1 and writes it to --port-file. Every spoiled
// request is logged on stdout as "fault <kind> <METHOD> <path>", so tests can count them; with
// --log-all every request is logged as "request <METHOD> <path> <Range header>".
//
// --verify-sigv4 checks every request's AWS Signature V4 (header form) against SECRET_KEY, and
// x-amz-content-sha256 against the body, as AWS does (s3rver checks neither): a mismatch is
// answered 403 SignatureDoesNotMatch (or XAmzContentSHA256Mismatch) without forwarding.
'use strict';

const crypto = require('crypto');
const http = require('http');

function parseArgs(argv) {
  const opts = {every: 0, probability: 0, seed: 1, faults: ['500', '503', 'drop', 'slow'],
                match: '', slowMs: 1500, upstream: '', portFile: '', logAll: false,
                secret: ''};
  for (let i = 2; i < argv.length; i++) {
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
      return argv[++i];
    };
    switch (argv[i]) {
      case '--upstream': opts.upstream = next(); break;
      case '--port-file': opts.portFile = next(); break;
      case '--every': opts.every = Number(next()); break;
      case '--probability': opts.probability = Number(next()); break;
      case '--seed': opts.seed = Number(next()); break;
      case '--faults': opts.faults = next().split(','); break;
      case '--match': opts.match = next(); break;
      case '--slow-ms': opts.slowMs = Number(next()); break;
      case '--log-all': opts.logAll = true; break;
      case '--verify-sigv4': opts.secret = next(); break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!opts.upstream || !opts.portFile) throw new Error('--upstream and --port-file are required');
  for (const f of opts.faults) {
    if (!['500', '503', 'drop', 'reset', 'slow'].includes(f)) throw new Error(`unknown fault ${f}`);
  }
  return opts;
}

// mulberry32: a small seeded generator, so a failing run can be repeated.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const opts = parseArgs(process.argv);
const upstream = new URL(opts.upstream);
const match = opts.match ? new RegExp(opts.match) : null;
const random = rng(opts.seed);
let seen = 0;
let spoiled = 0;

function pickFault(req) {
  if (match && !match.test(`${req.method} ${req.url}`)) return null;
  seen++;
  const hit = opts.every > 0 ? seen % opts.every === 0 : random() < opts.probability;
  if (!hit) return null;
  return opts.faults[spoiled++ % opts.faults.length];
}

// RFC 3986 encoding, as Signature V4 canonicalises query names and values.
function uriEncode(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

// Returns null when the request's Signature V4 is right, else the S3 error code.
function checkSigV4(req, body) {
  const auth = req.headers.authorization || '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return 'AccessDenied';
  const [, , date, region, service, signedHeaders, signature] = m;
  const payloadHash = req.headers['x-amz-content-sha256'];
  if (!payloadHash) return 'InvalidRequest';
  if (payloadHash !== 'UNSIGNED-PAYLOAD' &&
      payloadHash !== crypto.createHash('sha256').update(body).digest('hex')) {
    return 'XAmzContentSHA256Mismatch';
  }
  const [path, query = ''] = req.url.split(/\?(.*)/s);
  const canonicalQuery = query === '' ? '' : query.split('&').map((kv) => {
    const i = kv.indexOf('=');
    const k = decodeURIComponent(i < 0 ? kv : kv.slice(0, i));
    const v = i < 0 ? '' : decodeURIComponent(kv.slice(i + 1));
    return [uriEncode(k), uriEncode(v)];
  }).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`).join('&');
  const headers = signedHeaders.split(';').map(
      (h) => `${h}:${String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method, path, canonicalQuery, headers, signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', req.headers['x-amz-date'], scope,
                  crypto.createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();
  let key = hmac('AWS4' + opts.secret, date);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  const expected = crypto.createHmac('sha256', key).update(toSign).digest('hex');
  return expected === signature ? null : 'SignatureDoesNotMatch';
}

function s3Error(res, status, code, message) {
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(status, {'Content-Type': 'application/xml', 'Content-Length': body.length});
  res.end(body);
}

// Forwards the request and hands the upstream response, fully read, to `respond`.
function forward(req, body, respond, fail) {
  const up = http.request({
    host: upstream.hostname, port: upstream.port, method: req.method, path: req.url,
    headers: req.headers,  // Host included: the signature covers it
  }, (upRes) => {
    const chunks = [];
    upRes.on('data', (c) => chunks.push(c));
    upRes.on('end', () => respond(upRes, Buffer.concat(chunks)));
    upRes.on('error', fail);
  });
  up.on('error', fail);
  up.end(body);
}

function relay(res, upRes, payload) {
  const headers = Object.assign({}, upRes.headers);
  res.writeHead(upRes.statusCode, headers);
  res.end(payload);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (opts.logAll) console.log(`request ${req.method} ${req.url} ${req.headers.range || ''}`);
    if (opts.secret) {
      const bad = checkSigV4(req, body);
      if (bad) {
        console.log(`rejected ${bad} ${req.method} ${req.url}`);
        return s3Error(res, bad === 'XAmzContentSHA256Mismatch' ? 400 : 403, bad,
                       'checked by the fault proxy');
      }
    }
    const fault = pickFault(req);
    if (fault) console.log(`fault ${fault} ${req.method} ${req.url}`);
    const fail = (err) => {
      console.log(`upstream error ${err.message}`);
      res.destroy();
    };
    switch (fault) {
      case '500':
        return s3Error(res, 500, 'InternalError', 'injected by the fault proxy');
      case '503':
        return s3Error(res, 503, 'SlowDown', 'Please reduce your request rate (injected)');
      case 'reset':
        return forward(req, body, () => req.socket.destroy(), fail);
      case 'drop':
        return forward(req, body, (upRes, payload) => {
          if (payload.length < 2) return req.socket.destroy();
          const headers = Object.assign({}, upRes.headers);
          headers['content-length'] = String(payload.length);
          res.writeHead(upRes.statusCode, headers);
          res.write(payload.subarray(0, payload.length >> 1), () => req.socket.destroy());
        }, fail);
      case 'slow':
        return forward(req, body,
                       (upRes, payload) => setTimeout(() => relay(res, upRes, payload), opts.slowMs),
                       fail);
      default:
        return forward(req, body, (upRes, payload) => relay(res, upRes, payload), fail);
    }
  });
});
server.keepAliveTimeout = 30000;
server.listen(0, '127.0.0.1', () => {
  require('fs').writeFileSync(opts.portFile, String(server.address().port));
});
const stop = () => server.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 500);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
