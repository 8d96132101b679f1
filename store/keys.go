package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFile is the name, inside the data dir, of the file holding the master key.
const KeyFile = "s3relay.key"

// Keys is the key material of a data dir. One random master key is stored in
// KeyFile (mode 0600); every purpose gets its own key derived with HKDF, so a
// key used to sign cookies is never the one that encrypts secrets.
type Keys struct {
	// SessionHash signs session cookies.
	SessionHash []byte
	// CSRF signs anti-forgery tokens.
	CSRF []byte
	// Flash signs the one-time notice cookie.
	Flash []byte
	// Device signs the cookie that marks a browser where a user signed in.
	Device []byte

	aead  cipher.AEAD
	check []byte
}

// LoadKeys reads the master key of dataDir, creating it when missing. It
// refuses a key file readable by others.
func LoadKeys(dataDir string) (*Keys, error) {
	p := filepath.Join(dataDir, KeyFile)
	master, err := readKey(p)
	if errors.Is(err, fs.ErrNotExist) {
		master, err = createKey(p)
	}
	if err != nil {
		return nil, err
	}
	return deriveKeys(master)
}

func readKey(p string) ([]byte, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %v: it must not be readable by group or others (chmod 600)", p, fi.Mode().Perm())
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	master, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(master) != 32 {
		return nil, fmt.Errorf("key file %s is damaged: it must hold 64 hex characters", p)
	}
	return master, nil
}

func createKey(p string) ([]byte, error) {
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		return nil, fmt.Errorf("create key: %w", err)
	}
	// O_EXCL: two processes starting on a new data dir must not each write a key.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKey(p)
	}
	if err != nil {
		return nil, fmt.Errorf("create key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(master) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("create key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("create key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("create key: %w", err)
	}
	return master, nil
}

func deriveKeys(master []byte) (*Keys, error) {
	derive := func(purpose string) ([]byte, error) {
		return hkdf.Key(sha256.New, master, nil, "s3relay "+purpose, 32)
	}
	var k Keys
	var err error
	if k.SessionHash, err = derive("session-hash"); err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	if k.CSRF, err = derive("csrf"); err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	if k.Flash, err = derive("flash"); err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	if k.Device, err = derive("known-device"); err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	if k.check, err = derive("key-check"); err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	secret, err := derive("secrets")
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	block, err := aes.NewCipher(secret)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	if k.aead, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	return &k, nil
}

// Seal encrypts plaintext with AES-GCM under the secrets key. The result holds
// its random nonce; aad binds it to its owner (e.g. a destination id) so a
// sealed value copied to another row does not open.
func (k *Keys) Seal(plaintext, aad []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // crypto/rand.Read never fails on supported platforms
	}
	return k.aead.Seal(nonce, nonce, plaintext, aad)
}

// Open decrypts a value made by Seal with the same aad.
func (k *Keys) Open(sealed, aad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, errors.New("open secret: value too short")
	}
	pt, err := k.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("open secret: %w", err)
	}
	return pt, nil
}

// ParseKey makes the key material from a master key given as text: 64 hex
// characters or the base64 (standard or URL alphabet, padded or not) of 32
// bytes, surrounding space ignored. PostgreSQL mode takes it from
// S3RELAY_KEY or S3RELAY_KEY_FILE, the same on every replica; `openssl rand
// -hex 32` makes one.
func ParseKey(text string) (*Keys, error) {
	text = strings.TrimSpace(text)
	if b, err := hex.DecodeString(text); err == nil && len(b) == 32 {
		return deriveKeys(b)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(text); err == nil && len(b) == 32 {
			return deriveKeys(b)
		}
	}
	return nil, errors.New("the key must be 32 bytes written as 64 hex characters or in base64 (make one with: openssl rand -hex 32)")
}

// keyCheckLabel is what the key check value authenticates.
const keyCheckLabel = "s3relay key check v1"

// CheckValue is a value derived from the master key that tells whether two
// replicas hold the same key without revealing it: the HMAC-SHA256 of a fixed
// label under a key derived for that purpose alone, in hex.
func (k *Keys) CheckValue() string {
	m := hmac.New(sha256.New, k.check)
	m.Write([]byte(keyCheckLabel))
	return hex.EncodeToString(m.Sum(nil))
}
