package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// Checkpoint is a signed statement that a chain, up to and including record Seq, ends in Hash.
// The Pipeline writes one as a record of its own (event.action "checkpoint") right after the
// record it signs, every checkpoint.every_records records or checkpoint.every, and at Close.
// With the hash chain, one valid signature vouches for every record before it: an attacker who
// rewrites the chain and recomputes the hashes cannot recompute the signature.
type Checkpoint struct {
	Seq       uint64 `json:"seq"`
	Hash      string `json:"hash"`
	KeyID     string `json:"key_id"`
	Algorithm string `json:"algorithm"` // "ed25519"
	Signature string `json:"signature"` // standard base64
}

const checkpointAlgorithm = "ed25519"

// checkpointMessage is what is signed. The prefix keeps the signature from being valid for any
// other use of the key.
func checkpointMessage(chainID string, seq uint64, hash string) []byte {
	return []byte("tollgate-audit-checkpoint-v1\n" + chainID + "\n" + strconv.FormatUint(seq, 10) + "\n" + hash)
}

// signCheckpoint signs the chain head.
func signCheckpoint(key ed25519.PrivateKey, head chainHead) *Checkpoint {
	sig := ed25519.Sign(key, checkpointMessage(head.ID, head.Seq, head.Hash))
	return &Checkpoint{
		Seq: head.Seq, Hash: head.Hash, KeyID: KeyID(key.Public().(ed25519.PublicKey)),
		Algorithm: checkpointAlgorithm, Signature: base64.StdEncoding.EncodeToString(sig),
	}
}

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// LoadSigningKey reads an Ed25519 private key from a PEM file ("PRIVATE KEY", PKCS #8), as
// written by `openssl genpkey -algorithm ed25519`.
func LoadSigningKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM \"PRIVATE KEY\" (create one with: openssl genpkey -algorithm ed25519 -out %s)", path, filepath.Base(path))
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: the key is not Ed25519", path)
	}
	return priv, nil
}

// ReadPublicKey reads the key that `tollgate audit verify --key` checks checkpoints with: a PEM
// "PUBLIC KEY" (PKIX), such as the checkpoint.pub the Pipeline writes next to a key it
// generated, or the private key file itself.
func ReadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: not a PEM file", path)
	}
	switch blk.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if pub, ok := k.(ed25519.PublicKey); ok {
			return pub, nil
		}
		return nil, fmt.Errorf("%s: the key is not Ed25519", path)
	case "PRIVATE KEY":
		priv, err := LoadSigningKey(path)
		if err != nil {
			return nil, err
		}
		return priv.Public().(ed25519.PublicKey), nil
	}
	return nil, fmt.Errorf("%s: PEM block %q is not a public key", path, blk.Type)
}

// loadOrCreateKey loads the key at path, or creates and stores a new one there (0600), with
// its public half next to it (path without extension + ".pub") for verifiers.
func loadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	priv, err := LoadSigningKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return priv, err
	}
	_, priv, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := writePublicKey(publicKeyPath(path), priv.Public().(ed25519.PublicKey)); err != nil {
		return nil, err
	}
	return priv, nil
}

func publicKeyPath(keyPath string) string {
	return keyPath[:len(keyPath)-len(filepath.Ext(keyPath))] + ".pub"
}

func writePublicKey(path string, pub ed25519.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
}

// writeFileAtomic replaces path with data so that a crash leaves the old or the new content,
// never a mix.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// replaceFile is writeFileAtomic without the fsync: a crash may leave the old content or an
// empty file, never a mix of old and new.
func replaceFile(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// syncDir makes a directory's entries (created, renamed, removed files) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
