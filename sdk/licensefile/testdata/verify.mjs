// An independent verifier of entitled license files, with nothing but
// Node's built-in crypto (docs/offline.md): node verify.mjs JWKS LICENSE.
// Prints the dataset's sub and exp and exits 0 when the signature verifies
// with the key the JWKS names; exits 1 otherwise.
import { createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";

const [jwksPath, licensePath] = process.argv.slice(2);
const jwks = JSON.parse(readFileSync(jwksPath, "utf8"));
const text = readFileSync(licensePath, "utf8");

const m = text.match(/-----BEGIN ENTITLED LICENSE FILE-----([\s\S]*?)-----END ENTITLED LICENSE FILE-----/);
if (!m) {
  console.error("no armored license file");
  process.exit(1);
}
const envelope = JSON.parse(Buffer.from(m[1].replace(/\s+/g, ""), "base64").toString("utf8"));
if (envelope.alg !== "base64+ed25519") {
  console.error(`unknown alg ${envelope.alg}`);
  process.exit(1);
}
const jwk = jwks.keys.find((k) => k.kty === "OKP" && k.crv === "Ed25519" && k.kid === envelope.kid);
if (!jwk) {
  console.error(`unknown kid ${envelope.kid}`);
  process.exit(1);
}
const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: "jwk" });
const ok = verify(null, Buffer.from("license/" + envelope.enc, "utf8"), key, Buffer.from(envelope.sig, "base64"));
if (!ok) {
  console.error("signature does not verify");
  process.exit(1);
}
const dataset = JSON.parse(Buffer.from(envelope.enc, "base64").toString("utf8"));
console.log(`verified sub=${dataset.sub} exp=${dataset.exp}`);
