// sigstore-verify.js: the peer verifier of tests/e2e/t78.  sigstore-js
// (@sigstore/verify) checks a bundle ukit-sign wrote against a trust
// material made of a public key (--key PEM: its key id, the SHA-256 of its
// SPKI DER, must equal the bundle's hint) or of CA certificates (--ca PEM,
// roots and intermediates, as a Sigstore trusted root's certChain), and
// optional TSA certificates (--tsa-ca PEM).  No transparency log, no SCTs.
// Then, as a policy over the in-toto statement, the SHA-256 of ARTIFACT
// must be one of the statement's subject digests.
//   node sigstore-verify.js BUNDLE ARTIFACT (--key PEM | --ca PEM...) [--tsa-ca PEM...]
// Prints "verified" and exits 0, or prints why and exits 1.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const { bundleFromJSON } = require('@sigstore/bundle');
const { X509Certificate } = require('@sigstore/core');
const { Verifier, toSignedEntity } = require('@sigstore/verify');

function pemCerts(path) {
  const text = fs.readFileSync(path, 'utf8');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) || [];
  if (blocks.length === 0) throw new Error(`${path}: no certificates`);
  return blocks.map((b) => X509Certificate.parse(b));
}

const forever = { start: new Date(0), end: new Date(8640000000000000) };

function main(argv) {
  const [bundlePath, artifactPath, ...rest] = argv;
  let keyPem = null;
  const cas = [];
  const tsas = [];
  for (let i = 0; i < rest.length; i += 2) {
    if (rest[i] === '--key') keyPem = fs.readFileSync(rest[i + 1], 'utf8');
    else if (rest[i] === '--ca') cas.push(...pemCerts(rest[i + 1]));
    else if (rest[i] === '--tsa-ca') tsas.push(...pemCerts(rest[i + 1]));
    else throw new Error(`unknown option ${rest[i]}`);
  }
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
  const trust = {
    certificateAuthorities: cas.length ? [{ certChain: cas, validFor: forever }] : [],
    timestampAuthorities: tsas.length ? [{ certChain: tsas, validFor: forever }] : [],
    tlogs: [],
    ctlogs: [],
    publicKey: (hint) => {
      if (keyPem === null) throw new Error('no --key for a public key hint');
      const key = crypto.createPublicKey(keyPem);
      const id = crypto.createHash('sha256')
        .update(key.export({ type: 'spki', format: 'der' })).digest('hex');
      if (id !== hint) throw new Error(`hint ${hint} does not name the key ${id}`);
      return { publicKey: key, validFor: () => true };
    },
  };
  const verifier = new Verifier(trust, {
    tlogThreshold: 0, ctlogThreshold: 0, tsaThreshold: tsas.length ? 1 : 0,
  });
  verifier.verify(toSignedEntity(bundle));
  // policy: the statement's subject covers the artifact
  const st = JSON.parse(bundle.content.dsseEnvelope.payload.toString('utf8'));
  const digest = crypto.createHash('sha256').update(fs.readFileSync(artifactPath)).digest('hex');
  if (!(st.subject || []).some((s) => s.digest && s.digest.sha256 === digest)) {
    throw new Error(`artifact sha256 ${digest} is not a subject of the statement`);
  }
  console.log('verified');
}

try {
  main(process.argv.slice(2));
} catch (e) {
  console.log(`sigstore-js: ${e.message}${e.cause ? ` (${e.cause.message})` : ''}`);
  process.exit(1);
}
