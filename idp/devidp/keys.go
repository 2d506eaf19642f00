package devidp

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// signingKeys holds the one RS256 key the provider signs with and its published form.
type signingKeys struct {
	kid    string
	public *rsa.PublicKey
	signer jose.Signer
	jwks   []byte
}

func newSigningKeys(key *rsa.PrivateKey) (*signingKeys, error) {
	pub := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
	// The kid is the RFC 7638 thumbprint, so the same key always gets the same id.
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signing key thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	if err != nil {
		return nil, fmt.Errorf("marshal JWKS: %w", err)
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: pub.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	return &signingKeys{kid: pub.KeyID, public: &key.PublicKey, signer: signer, jwks: jwks}, nil
}

// sign serialises claims as a compact JWS.
func (k *signingKeys) sign(claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("marshal claims: %w", err)
	}
	jws, err := k.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}

// verify checks that raw is a compact JWS signed by this key and returns its payload. It checks
// nothing inside the payload.
func (k *signingKeys) verify(raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, fmt.Errorf("parse token: %w", err)
	}
	return jws.Verify(k.public)
}

// halfHash is the "at_hash" of OpenID Connect Core §3.1.3.6 for RS256: the left half of the
// SHA-256 of the token, base64url-encoded.
func halfHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
