//! Access tokens (EdDSA JWTs), their signing keys, the JWKS document, and opaque refresh tokens.
//!
//! Keys from files are PKCS#8 PEM in the keys directory: every key there verifies; the one whose
//! file name sorts last signs. To rotate, add a newer file, restart every instance, and remove the
//! old file once the tokens it signed have expired (15 minutes). Without key files, the keys live
//! in the database and rotate without restarts ([`super::keyring`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::AuthConfig;
use crate::domain::{SessionId, UserId};

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub sid: SessionId,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

/// Why a presented access token was refused; the `reason` programs see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

impl TokenError {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Expired => "token_expired",
            Self::Invalid => "invalid_token",
        }
    }
}

struct VerifyingKey {
    key: DecodingKey,
    jwk: Value,
}

/// Signs and verifies access tokens.
#[derive(Clone)]
pub struct TokenKeys {
    signing_kid: Arc<str>,
    signing: Arc<EncodingKey>,
    verifying: Arc<HashMap<String, VerifyingKey>>,
    validation: Arc<Validation>,
    issuer: Arc<str>,
    audience: Arc<str>,
    access_ttl_secs: i64,
}

impl TokenKeys {
    /// Loads every `*.pem` in `dir`, generating a first key if there is none.
    pub fn load_or_generate(dir: &Path, config: &AuthConfig) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating keys directory {}", dir.display()))?;
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading keys directory {}", dir.display()))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "pem"))
            .collect();
        if files.is_empty() {
            files.push(generate_key_file(dir)?);
            tracing::info!(dir = %dir.display(), "generated a new Ed25519 signing key");
        }
        files.sort();
        let keys = files
            .iter()
            .map(|path| {
                let pem = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                SigningKey::from_pkcs8_pem(&pem)
                    .with_context(|| format!("{} is not an Ed25519 PKCS#8 key", path.display()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Self::from_keys(&keys, config)
    }

    /// Builds from keys in order; the last one signs.
    pub fn from_keys(keys: &[SigningKey], config: &AuthConfig) -> anyhow::Result<Self> {
        let Some(newest) = keys.last() else { bail!("no signing key") };
        let mut verifying = HashMap::new();
        for key in keys {
            let (kid, jwk) = public_jwk(key);
            let public = key.verifying_key();
            verifying.insert(kid, VerifyingKey { key: DecodingKey::from_ed_der(public.as_bytes()), jwk });
        }
        let der = newest.to_pkcs8_der().context("encoding the signing key")?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.leeway = 30;
        // Parlor writes no `nbf`, but a token that carries one is held to it.
        validation.validate_nbf = true;
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        Ok(Self {
            signing_kid: public_jwk(newest).0.into(),
            signing: Arc::new(EncodingKey::from_ed_der(der.as_bytes())),
            verifying: Arc::new(verifying),
            validation: Arc::new(validation),
            issuer: config.issuer.as_str().into(),
            audience: config.audience.as_str().into(),
            access_ttl_secs: i64::try_from(config.access_ttl_secs).unwrap_or(900),
        })
    }

    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl_secs
    }

    /// Signs an access token for `user` in `session`, valid from now for the configured lifetime.
    pub fn issue(&self, user: UserId, session: SessionId) -> anyhow::Result<String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: user,
            sid: session,
            jti: Uuid::now_v7(),
            iat: now,
            exp: now + self.access_ttl_secs,
            iss: self.issuer.to_string(),
            aud: self.audience.to_string(),
        };
        self.sign(&claims)
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.signing_kid.to_string());
        // RFC 9068: marks this as an access token, not an ID token or anything else.
        header.typ = Some("at+jwt".to_owned());
        jsonwebtoken::encode(&header, claims, &self.signing).context("signing an access token")
    }

    /// Verifies signature (EdDSA only, key chosen by `kid`), issuer, audience and lifetime: not
    /// expired, not issued (or valid only) in the future, and claiming no longer a life than
    /// this server gives its tokens. The same leeway holds for every instant.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        // RFC 9068 §4: only tokens typed as access tokens are access tokens.
        if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some("at+jwt") {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let key = self.verifying.get(&kid).ok_or(TokenError::Invalid)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let leeway = i64::try_from(self.validation.leeway).unwrap_or(0);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if claims.iat > now + leeway || claims.exp.saturating_sub(claims.iat) > self.access_ttl_secs {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }

    /// Whether verified `claims` have since expired, with the same leeway as verification.
    pub fn is_expired(&self, claims: &Claims) -> bool {
        let leeway = i64::try_from(self.validation.leeway).unwrap_or(0);
        claims.exp + leeway < time::OffsetDateTime::now_utc().unix_timestamp()
    }

    /// `{"keys": [...]}` with every verifying key, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Value {
        let mut keys: Vec<&Value> = self.verifying.values().map(|k| &k.jwk).collect();
        keys.sort_by_key(|jwk| jwk["kid"].as_str().map(str::to_owned));
        json!({ "keys": keys })
    }
}

/// The public JWK of `key` and its `kid`, the RFC 7638 thumbprint of that JWK.
fn public_jwk(key: &SigningKey) -> (String, Value) {
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    // RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig" });
    (kid, jwk)
}

/// A key's id: its public key's RFC 7638 thumbprint, as tokens and the JWKS name it.
pub fn key_id(key: &SigningKey) -> String {
    public_jwk(key).0
}

pub fn generate_signing_key() -> anyhow::Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).context("no system randomness")?;
    Ok(SigningKey::from_bytes(&seed))
}

fn generate_key_file(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let key = generate_signing_key()?;
    let pem = key.to_pkcs8_pem(LineEnding::LF).context("encoding a new signing key")?;
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let path = dir.join(format!("ed25519-{stamp}.pem"));
    write_private(&path, pem.as_bytes())?;
    Ok(path)
}

/// Writes a new secret file, readable by its owner only (keys, backups).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes).with_context(|| format!("writing {}", path.display()))
}

/// A new opaque refresh token: 256 random bits, base64url.
pub fn new_refresh_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).context("no system randomness")?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What the database keeps of a refresh token. A plain SHA-256 suffices: the token has 256 bits
/// of entropy, so there is nothing to brute-force.
pub fn refresh_token_hash(token: &str) -> String {
    crate::digest::sha256_hex(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::from_keys(&[generate_signing_key().unwrap()], &AuthConfig::default()).unwrap()
    }

    fn claims(keys: &TokenKeys) -> Claims {
        let token = keys.issue(UserId::new(), SessionId::new()).unwrap();
        keys.verify(&token).unwrap()
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let keys = keys();
        let (user, session) = (UserId::new(), SessionId::new());
        let token = keys.issue(user, session).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!((claims.sub, claims.sid), (user, session));
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!((claims.iss.as_str(), claims.aud.as_str()), ("parlor", "parlor"));
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), keys.jwks()["keys"][0]["kid"].as_str());
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let keys = keys();
        let token = keys.issue(UserId::new(), SessionId::new()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["sub"] = json!(Uuid::now_v7());
        let forged = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        assert_eq!(keys.verify(&forged), Err(TokenError::Invalid));
    }

    #[test]
    fn alg_none_is_refused() {
        let keys = keys();
        let claims = claims(&keys);
        let kid = keys.jwks()["keys"][0]["kid"].clone();
        let token = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})), b64(&json!(claims)));
        assert_eq!(keys.verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn hs256_signed_with_the_public_key_is_refused() {
        // The classic algorithm-confusion attack: use the public key as an HMAC secret.
        let keys = keys();
        let claims = claims(&keys);
        let jwk = &keys.jwks()["keys"][0];
        let public = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = jwk["kid"].as_str().map(str::to_owned);
        let forged = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&public)).unwrap();
        assert_eq!(keys.verify(&forged), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_not_typed_as_an_access_token_is_refused() {
        let keys = keys();
        let claims = claims(&keys);
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = keys.jwks()["keys"][0]["kid"].as_str().map(str::to_owned);
        header.typ = Some("JWT".to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &keys.signing).unwrap();
        assert_eq!(keys.verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn an_expired_token_is_refused_as_expired() {
        let keys = keys();
        let mut claims = claims(&keys);
        claims.iat -= 3600;
        claims.exp = claims.iat + 900;
        let token = keys.sign(&claims).unwrap();
        assert_eq!(keys.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_issued_or_valid_only_in_the_future_or_claiming_a_longer_life_is_refused() {
        let keys = keys();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut future = claims(&keys);
        future.iat = now + 120;
        future.exp = future.iat + 900;
        assert_eq!(keys.verify(&keys.sign(&future).unwrap()), Err(TokenError::Invalid), "iat in the future");
        let mut skewed = claims(&keys);
        skewed.iat = now + 20;
        skewed.exp = skewed.iat + 900;
        assert!(keys.verify(&keys.sign(&skewed).unwrap()).is_ok(), "within the leeway");
        let mut long = claims(&keys);
        long.exp = long.iat + 901;
        assert_eq!(keys.verify(&keys.sign(&long).unwrap()), Err(TokenError::Invalid), "a life past the 900 s given");

        #[derive(serde::Serialize)]
        struct WithNbf {
            #[serde(flatten)]
            claims: Claims,
            nbf: i64,
        }
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(keys.signing_kid.to_string());
        header.typ = Some("at+jwt".to_owned());
        let later = WithNbf { claims: claims(&keys), nbf: now + 120 };
        let token = jsonwebtoken::encode(&header, &later, &keys.signing).unwrap();
        assert_eq!(keys.verify(&token), Err(TokenError::Invalid), "nbf in the future");
        let now_valid = WithNbf { claims: claims(&keys), nbf: now };
        let token = jsonwebtoken::encode(&header, &now_valid, &keys.signing).unwrap();
        assert!(keys.verify(&token).is_ok());
    }

    #[test]
    fn a_token_from_an_unknown_key_is_refused() {
        let keys = keys();
        let other = self::keys();
        let token = other.issue(UserId::new(), SessionId::new()).unwrap();
        assert_eq!(keys.verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn expiry_is_judged_with_the_verification_leeway() {
        let keys = keys();
        let mut claims = claims(&keys);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        claims.exp = now - 10;
        assert!(!keys.is_expired(&claims), "within the 30 s leeway");
        claims.exp = now - 31;
        assert!(keys.is_expired(&claims));
    }

    #[test]
    fn a_wrong_audience_or_issuer_is_refused() {
        let keys = keys();
        let mut claims = claims(&keys);
        claims.aud = "someone-else".to_owned();
        assert_eq!(keys.verify(&keys.sign(&claims).unwrap()), Err(TokenError::Invalid));
        let mut claims = self::claims(&keys);
        claims.iss = "evil".to_owned();
        assert_eq!(keys.verify(&keys.sign(&claims).unwrap()), Err(TokenError::Invalid));
    }

    #[test]
    fn a_refresh_token_is_not_an_access_token() {
        let keys = keys();
        let refresh = new_refresh_token().unwrap();
        assert_eq!(refresh.len(), 43, "256 bits in base64url");
        assert_eq!(keys.verify(&refresh), Err(TokenError::Invalid));
    }

    #[test]
    fn every_key_verifies_and_the_newest_signs() {
        let (old, new) = (generate_signing_key().unwrap(), generate_signing_key().unwrap());
        let before = TokenKeys::from_keys(std::slice::from_ref(&old), &AuthConfig::default()).unwrap();
        let after = TokenKeys::from_keys(&[old, new], &AuthConfig::default()).unwrap();
        let old_token = before.issue(UserId::new(), SessionId::new()).unwrap();
        assert!(after.verify(&old_token).is_ok(), "tokens signed before rotation stay valid");
        assert_eq!(after.jwks()["keys"].as_array().unwrap().len(), 2);
        let new_kid = jsonwebtoken::decode_header(after.issue(UserId::new(), SessionId::new()).unwrap()).unwrap().kid;
        assert_ne!(new_kid, jsonwebtoken::decode_header(&old_token).unwrap().kid);
    }

    #[test]
    fn keys_are_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = TokenKeys::load_or_generate(dir.path(), &AuthConfig::default()).unwrap();
        let second = TokenKeys::load_or_generate(dir.path(), &AuthConfig::default()).unwrap();
        assert_eq!(first.jwks(), second.jwks());
        let token = first.issue(UserId::new(), SessionId::new()).unwrap();
        assert!(second.verify(&token).is_ok());
    }

    #[test]
    fn refresh_tokens_are_stored_as_a_hash() {
        let hash = refresh_token_hash("abc");
        assert_eq!(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
