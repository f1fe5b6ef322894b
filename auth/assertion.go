package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// AuthPrivateKeyJWT is the client authentication method of RFC 7523 §2.2:
// the client signs a short-lived JWT with its private key instead of
// sending a secret. The key (PEM) is kept where a secret would be.
const AuthPrivateKeyJWT = "private_key_jwt"

// clientAssertionType is RFC 7523's client_assertion_type.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// clientAssertion signs a client assertion for one token request: issuer
// and subject the client, audience the authorization server's issuer,
// valid for five minutes. ES256 for a P-256 key, RS256 for an RSA key.
func clientAssertion(keyPEM, clientID, audience string, now time.Time) (string, error) {
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		return "", errors.New("the client's private key is not PEM")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if key, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
			return "", fmt.Errorf("the client's private key is neither PKCS #8 nor an EC key: %w", err)
		}
	}
	var alg string
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve.Params().BitSize != 256 {
			return "", errors.New("the client's EC key is not P-256 (ES256)")
		}
		alg = "ES256"
	case *rsa.PrivateKey:
		alg = "RS256"
	default:
		return "", fmt.Errorf("the client's private key is a %T: ES256 and RS256 keys only", key)
	}
	header, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{
		"iss": clientID, "sub": clientID, "aud": audience, "jti": randomString(16),
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	})
	input := b64(header) + "." + b64(claims)
	sum := sha256.Sum256([]byte(input))
	var sig []byte
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			return "", err
		}
		// JWS wants r and s, 32 bytes each, not ASN.1 (RFC 7518 §3.4).
		sig = append(fixed32(r), fixed32(s)...)
	case *rsa.PrivateKey:
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:]); err != nil {
			return "", err
		}
	}
	return input + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func fixed32(n *big.Int) []byte {
	out := make([]byte, 32)
	return n.FillBytes(out)
}
