package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestAClientAssertionIsSignedForTheIssuer signs an RFC 7523 assertion
// with a P-256 key and checks it as an authorization server would: the
// ES256 signature with the public key, and the claims.
func TestAClientAssertionIsSignedForTheIssuer(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	now := time.Now()
	jwt, err := clientAssertion(keyPEM, "machine", "https://as.example.com", now)
	must(t, err)
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", jwt)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if len(sig) != 64 || !ecdsa.Verify(&key.PublicKey, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatalf("the ES256 signature does not verify")
	}
	var claims struct {
		Iss, Sub, Aud, Jti string
		Exp, Iat           int64
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, json.Unmarshal(payload, &claims))
	if claims.Iss != "machine" || claims.Sub != "machine" || claims.Aud != "https://as.example.com" || claims.Jti == "" || claims.Exp <= now.Unix() {
		t.Errorf("claims = %+v", claims)
	}
	if _, err := clientAssertion("not a key", "machine", "https://as.example.com", now); err == nil {
		t.Errorf("a key that is not PEM signed an assertion")
	}
}
