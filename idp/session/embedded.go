package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Buckets of the embedded file: sessions holds id → boltRecord; users holds one nested bucket
// per user key whose keys are that user's session IDs; once holds single-use values.
const (
	bucketSessions = "sessions"
	bucketUsers    = "users"
	bucketOnce     = "once"
)

// lockTimeout bounds the wait for the file lock, so a second process on the same file fails
// with a clear error instead of hanging.
const lockTimeout = time.Second

// EmbeddedStore keeps sessions in one bbolt file on the local disk, for a single node. It
// survives a restart; expired entries are removed as they are met and by a bounded sweep on
// every Create, so the file does not grow without end.
type EmbeddedStore struct {
	db     *bolt.DB
	r      rules
	opened openedCache
}

// boltRecord is the stored form of a record.
type boltRecord struct {
	User     string `json:"u"`
	Created  int64  `json:"c"`
	Expires  int64  `json:"e"`
	LastSeen int64  `json:"l"`
	Sealed   []byte `json:"s"`
}

// NewEmbedded opens (or creates) the store file at path. The file is private to its owner
// (0600, parent directory 0700) even though its contents are sealed.
func NewEmbedded(path string, opt Options) (*EmbeddedStore, error) {
	if path == "" {
		return nil, errors.New("session: embedded store needs a file path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("session: create data folder: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("session: open %s: the file is locked by another process (is another tollgate using this data folder?): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("session: open %s: %w", path, err)
	}
	if err := tightenMode(path); err != nil {
		_ = db.Close()
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{bucketSessions, bucketUsers, bucketOnce} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("session: initialise %s: %w", path, err)
	}
	return &EmbeddedStore{db: db, r: newRules(opt)}, nil
}

// tightenMode makes a file created by hand or an older release private too; bbolt only sets
// the mode when it creates the file.
func tightenMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("session: stat %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("session: make %s private: %w", path, err)
		}
	}
	return nil
}

// Create stores s under a new token and returns the token.
func (e *EmbeddedStore) Create(ctx context.Context, s Session) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	tok, s, rec, err := e.r.begin(s)
	if err != nil {
		return "", err
	}
	var swept []string
	err = e.db.Update(func(tx *bolt.Tx) error {
		if err := putRecord(tx, s.ID, rec); err != nil {
			return err
		}
		users, err := tx.Bucket([]byte(bucketUsers)).CreateBucketIfNotExists([]byte(rec.User))
		if err != nil {
			return err
		}
		if err := users.Put([]byte(s.ID), []byte{}); err != nil {
			return err
		}
		swept, err = e.sweep(tx, s.CreatedAt)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("session: bolt create: %w", err)
	}
	if len(swept) > 0 {
		e.opened.forget(swept...)
	}
	return tok, nil
}

// Get returns the live session for tok and slides its idle window.
func (e *EmbeddedStore) Get(ctx context.Context, tok string) (Session, error) {
	if err := ctx.Err(); err != nil {
		return Session{}, err
	}
	if !validToken(tok) {
		return Session{}, ErrNotFound
	}
	id, now := sessionID(tok), e.r.clock()
	if s, ok := e.opened.get(e.r, id, now); ok {
		return s, nil
	}
	gen := e.opened.generation()
	var rec record
	var found bool
	err := e.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, found, err = getRecord(tx, id)
		return err
	})
	if err != nil {
		return Session{}, fmt.Errorf("session: bolt get: %w", err)
	}
	if !found {
		return Session{}, ErrNotFound
	}
	s, err := e.r.open(tok, id, rec, now)
	if errors.Is(err, ErrNotFound) {
		err := e.db.Update(func(tx *bolt.Tx) error { return removeRecord(tx, id) })
		e.opened.forget(id)
		if err != nil {
			return Session{}, fmt.Errorf("session: bolt remove expired: %w", err)
		}
		return Session{}, ErrNotFound
	}
	if err != nil {
		return s, err
	}
	if !e.r.needsTouch(rec, now) {
		e.opened.put(gen, id, s, rec)
		return s, nil
	}
	// The read above runs without the write lock; only a due touch pays for a write.
	err = e.db.Update(func(tx *bolt.Tx) error {
		cur, ok, err := getRecord(tx, id)
		if err != nil || !ok {
			found = ok
			return err
		}
		cur.LastSeen = now
		return putRecord(tx, id, cur)
	})
	if err != nil {
		return Session{}, fmt.Errorf("session: bolt touch: %w", err)
	}
	if !found {
		return Session{}, ErrNotFound // deleted while we read it
	}
	s.LastSeen, rec.LastSeen = now, now
	e.opened.put(gen, id, s, rec)
	return s, nil
}

// Update replaces the contents of the session for tok, keeping its ID, CreatedAt and ExpiresAt.
func (e *EmbeddedStore) Update(ctx context.Context, tok string, s Session) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !validToken(tok) {
		return ErrNotFound
	}
	id, now := sessionID(tok), e.r.clock()
	var notFound bool
	err := e.db.Update(func(tx *bolt.Tx) error {
		rec, ok, err := getRecord(tx, id)
		if err != nil || !ok {
			notFound = !ok
			return err
		}
		cur, err := e.r.open(tok, id, rec, now)
		if errors.Is(err, ErrNotFound) {
			notFound = true
			return removeRecord(tx, id)
		}
		if err != nil {
			return err
		}
		next, err := e.r.replace(tok, cur, s, rec, now)
		if err != nil {
			return err
		}
		return putRecord(tx, id, next)
	})
	e.opened.forget(id)
	if err != nil {
		return fmt.Errorf("session: bolt update: %w", err)
	}
	if notFound {
		return ErrNotFound
	}
	return nil
}

// Delete removes the session for tok; deleting what is not there is not an error.
func (e *EmbeddedStore) Delete(ctx context.Context, tok string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !validToken(tok) {
		return nil
	}
	id := sessionID(tok)
	err := e.db.Update(func(tx *bolt.Tx) error { return removeRecord(tx, id) })
	e.opened.forget(id)
	if err != nil {
		return fmt.Errorf("session: bolt delete: %w", err)
	}
	return nil
}

// Ping reports whether the file is open and readable.
func (e *EmbeddedStore) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := e.db.View(func(*bolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("session: bolt ping: %w", err)
	}
	return nil
}

// Close closes the file; the store cannot be used afterwards.
func (e *EmbeddedStore) Close() error {
	e.opened.clear() // a closed store answers nothing, not even from memory
	if err := e.db.Close(); err != nil {
		return fmt.Errorf("session: bolt close: %w", err)
	}
	return nil
}

func getRecord(tx *bolt.Tx, id string) (record, bool, error) {
	v := tx.Bucket([]byte(bucketSessions)).Get([]byte(id))
	if v == nil {
		return record{}, false, nil
	}
	return decodeRecord(v), true, nil
}

// decodeRecord turns a damaged entry into a zero record, which is never live, so it is
// treated as expired and removed.
func decodeRecord(v []byte) record {
	var br boltRecord
	if err := json.Unmarshal(v, &br); err != nil {
		return record{}
	}
	return record{
		User:     br.User,
		Created:  time.Unix(0, br.Created).UTC(),
		Expires:  time.Unix(0, br.Expires).UTC(),
		LastSeen: time.Unix(0, br.LastSeen).UTC(),
		Sealed:   br.Sealed,
	}
}

func putRecord(tx *bolt.Tx, id string, rec record) error {
	v, err := json.Marshal(boltRecord{
		User:     rec.User,
		Created:  rec.Created.UnixNano(),
		Expires:  rec.Expires.UnixNano(),
		LastSeen: rec.LastSeen.UnixNano(),
		Sealed:   rec.Sealed,
	})
	if err != nil {
		return err
	}
	return tx.Bucket([]byte(bucketSessions)).Put([]byte(id), v)
}

// removeRecord deletes a session and its index entry, and the user's index once it is empty.
func removeRecord(tx *bolt.Tx, id string) error {
	sessions := tx.Bucket([]byte(bucketSessions))
	v := sessions.Get([]byte(id))
	if v == nil {
		return nil
	}
	var br boltRecord
	_ = json.Unmarshal(v, &br) // a damaged entry still goes; its index entry cannot be found
	if err := sessions.Delete([]byte(id)); err != nil {
		return err
	}
	return unindex(tx, br.User, id)
}

func unindex(tx *bolt.Tx, user, id string) error {
	if user == "" {
		return nil
	}
	users := tx.Bucket([]byte(bucketUsers))
	ub := users.Bucket([]byte(user))
	if ub == nil {
		return nil
	}
	if err := ub.Delete([]byte(id)); err != nil {
		return err
	}
	if k, _ := ub.Cursor().First(); k == nil {
		return users.DeleteBucket([]byte(user))
	}
	return nil
}
