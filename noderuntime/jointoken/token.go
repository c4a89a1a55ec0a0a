// Package jointoken is cluster mode's join token: its format, the check a
// joining node makes of the CA a server presents before it sends anything
// secret, and the server's store of the tokens it handed out.
//
// A token reads
//
//	ZL10<sha256 hex of the cluster CA certificate's DER>::<role>.<id>.<secret>
//
// with role server or agent, id six and secret 32 characters of [a-z2-7].
// The hash lets a joiner that was given nothing but the token pin the
// cluster's CA (trust on first use is never needed); the id names the token
// in lists and revocations; the secret proves the joiner was given it.
//
// The store keeps only the SHA-256 of each secret. Store is the interface
// the join handler will use; FileStore, a 0600 JSON file, is the first
// implementation, and an etcd-backed one (so that every server of a cluster
// sees the same tokens) can replace it without the handler changing.
package jointoken

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/zlayer/zlayer/noderuntime/pki"
)

// Prefix starts every token; its digits are the format's version.
const Prefix = "ZL10"

// Lengths of a token's parts.
const (
	IDLen     = 6
	SecretLen = 32
	hashLen   = 64
)

// Role is what a token lets its holder join as.
type Role string

const (
	RoleServer Role = "server"
	RoleAgent  Role = "agent"
)

// ParseRole accepts the two roles by name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleServer, RoleAgent:
		return r, nil
	}
	return "", fmt.Errorf("%w: role %q, want server or agent", ErrMalformed, s)
}

// Errors of parsing, checking and verifying tokens. None of their messages
// holds a token's secret: they end up in logs and API answers.
var (
	ErrMalformed  = errors.New("malformed join token")
	ErrCAMismatch = errors.New("the CA presented does not match the join token's CA hash")
	ErrUnknown    = errors.New("unknown join token")
	ErrRevoked    = errors.New("join token revoked")
	ErrExpired    = errors.New("join token expired")
	ErrWrongRole  = errors.New("join token used for another role than it was made for")
)

// Token is a parsed join token.
type Token struct {
	CAHash string // lowercase hex SHA-256 of the CA certificate's DER
	Role   Role
	ID     string
	Secret string
}

// alphabet is base32's lower-case one: 32 symbols, so a random byte masked
// to five bits picks each with the same chance.
const alphabet = "abcdefghijklmnopqrstuvwxyz234567"

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token part: %w", err)
	}
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return string(b), nil
}

// CAHash is the hash a token carries for ca.
func CAHash(ca *x509.Certificate) string {
	return strings.TrimPrefix(pki.Fingerprint(ca), "sha256:")
}

// New makes a token with a fresh id and secret for the cluster whose CA is
// ca.
func New(ca *x509.Certificate, role Role) (Token, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return Token{}, err
	}
	id, err := randomString(IDLen)
	if err != nil {
		return Token{}, err
	}
	secret, err := randomString(SecretLen)
	if err != nil {
		return Token{}, err
	}
	return Token{CAHash: CAHash(ca), Role: role, ID: id, Secret: secret}, nil
}

// Encode is the full token, secret included, as handed to the operator.
func (t Token) Encode() string {
	return Prefix + t.CAHash + "::" + string(t.Role) + "." + t.ID + "." + t.Secret
}

// String is the token with its secret masked, so that a token printed by
// mistake (%v in a log line) gives nothing away.
func (t Token) String() string {
	return Prefix + t.CAHash + "::" + string(t.Role) + "." + t.ID + "." + strings.Repeat("*", len(t.Secret))
}

func inAlphabet(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune(alphabet, c) {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Parse reads a token. Its errors wrap ErrMalformed and say which part is
// wrong, never what the secret was.
func Parse(s string) (Token, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), Prefix)
	if !ok {
		return Token{}, fmt.Errorf("%w: it does not start with %s", ErrMalformed, Prefix)
	}
	hash, cred, ok := strings.Cut(rest, "::")
	if !ok {
		return Token{}, fmt.Errorf("%w: no \"::\" after the CA hash", ErrMalformed)
	}
	if len(hash) != hashLen || !isLowerHex(hash) {
		return Token{}, fmt.Errorf("%w: the CA hash must be %d lowercase hex digits", ErrMalformed, hashLen)
	}
	parts := strings.Split(cred, ".")
	if len(parts) != 3 {
		return Token{}, fmt.Errorf("%w: want <role>.<id>.<secret> after \"::\"", ErrMalformed)
	}
	role, err := ParseRole(parts[0])
	if err != nil {
		return Token{}, err
	}
	if len(parts[1]) != IDLen || !inAlphabet(parts[1]) {
		return Token{}, fmt.Errorf("%w: the id must be %d characters of [a-z2-7]", ErrMalformed, IDLen)
	}
	if len(parts[2]) != SecretLen || !inAlphabet(parts[2]) {
		return Token{}, fmt.Errorf("%w: the secret must be %d characters of [a-z2-7]", ErrMalformed, SecretLen)
	}
	return Token{CAHash: hash, Role: role, ID: parts[1], Secret: parts[2]}, nil
}

// CheckCA finds, among the certificates a server presented as its CA
// bundle, the one whose hash the token carries. The joiner must trust only
// the certificate returned, not the whole bundle: an attacker in the middle
// could add a CA of its own beside the real one.
func (t Token) CheckCA(bundle []*x509.Certificate) (*x509.Certificate, error) {
	want := []byte(t.CAHash)
	for _, c := range bundle {
		if subtle.ConstantTimeCompare([]byte(CAHash(c)), want) == 1 {
			return c, nil
		}
	}
	return nil, ErrCAMismatch
}

// CheckCAPEM is CheckCA for a PEM bundle as fetched from a server.
func (t Token) CheckCAPEM(bundle []byte) (*x509.Certificate, error) {
	certs, err := pki.ParseCerts("CA bundle", bundle)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCAMismatch, err)
	}
	return t.CheckCA(certs)
}

// secretHash is what a store keeps instead of the secret.
func secretHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
