package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Chain links a record to the one before it. Hash is the SHA-256 (hex) of the record's
// canonical JSON without the hash field; PrevHash is the Hash of the record before it in the
// same chain ("" for the first). Seq starts at 1 and grows by one per record. A chain belongs
// to one spool, so to one gate instance; a restart continues it.
type Chain struct {
	ID       string `json:"id"`
	Seq      uint64 `json:"seq"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash,omitempty"`
}

// chainKey is the record's field that holds the Chain.
const chainKey = "tollgate.chain"

// chainHead is where a chain stands: the last record's seq and hash.
type chainHead struct {
	ID   string `json:"id"`
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// canonical encodes v with object keys sorted, no insignificant whitespace, numbers as they
// were read (json.Number) and no HTML escaping. It is the form every line of the trail is
// written in and the form hashed, so a verifier recomputes it from the line alone, and a
// record whose fields it does not know still verifies.
func canonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// decodeObject reads one JSON object, keeping numbers as written.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the JSON object")
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// recordObject turns a Record into the generic form the chain works on.
func recordObject(r Record) (map[string]any, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("audit: encode record: %w", err)
	}
	return decodeObject(b)
}

// prepared is a record in canonical form, split around where its chain field goes: the
// members whose keys sort before "tollgate.chain" and those after, each without braces.
// Preparing is the costly part of writing a record and needs no lock; linking it to the
// chain head is cheap.
type prepared struct {
	before, after []byte
	backing       []byte // the buffer both are in, when it may be reused (encodeRecord)
}

// prepare encodes m, less any chain field, for linking. m is modified.
func prepare(m map[string]any) (*prepared, error) {
	delete(m, chainKey)
	lo, hi := map[string]any{}, map[string]any{}
	for k, v := range m {
		// encoding/json sorts map keys by byte order, as strings.Compare does.
		if k < chainKey {
			lo[k] = v
		} else {
			hi[k] = v
		}
	}
	a, err := canonical(lo)
	if err != nil {
		return nil, fmt.Errorf("audit: encode record: %w", err)
	}
	b, err := canonical(hi)
	if err != nil {
		return nil, fmt.Errorf("audit: encode record: %w", err)
	}
	return &prepared{before: a[1 : len(a)-1], after: b[1 : len(b)-1]}, nil
}

// link returns the line (canonical JSON, ending in a newline) that follows head, and the new
// head. The bytes are exactly those canonical would give for the whole record, which Verify
// checks. The hash covers the record without the chain's hash member, so the line is built
// without it, hashed, and the member is then inserted in place: one allocation for the line
// and one for the new head's hash.
func (p *prepared) link(head chainHead) ([]byte, chainHead) {
	const hashKey = `"hash":"`
	const member = len(hashKey) + 2*sha256.Size + len(`",`)
	next := chainHead{ID: head.ID, Seq: head.Seq + 1}
	line := make([]byte, 0, len(p.before)+len(p.after)+len(head.ID)+len(head.Hash)+member+64)
	line = append(line, '{')
	if len(p.before) > 0 {
		line = append(append(line, p.before...), ',')
	}
	line = append(line, `"`+chainKey+`":{`...)
	at := len(line)
	line = append(line, `"id":`...)
	line = appendString(line, head.ID)
	line = append(line, `,"prev_hash":`...)
	line = appendString(line, head.Hash)
	line = append(line, `,"seq":`...)
	line = strconv.AppendUint(line, next.Seq, 10)
	line = append(line, '}')
	if len(p.after) > 0 {
		line = append(append(line, ','), p.after...)
	}
	line = append(line, '}')
	sum := sha256.Sum256(line)

	n := len(line)
	line = slices.Grow(line, member+1)[:n+member+1]
	copy(line[at+member:], line[at:n])
	copy(line[at:], hashKey)
	hex.Encode(line[at+len(hashKey):], sum[:])
	copy(line[at+member-2:], `",`)
	line[len(line)-1] = '\n'
	next.Hash = string(line[at+len(hashKey) : at+len(hashKey)+2*sha256.Size])
	return line, next
}

// plain returns the record without chain fields, as a line ending in a newline.
func (p *prepared) plain() []byte {
	line := make([]byte, 0, len(p.before)+len(p.after)+4)
	line = append(append(line, '{'), p.before...)
	if len(p.before) > 0 && len(p.after) > 0 {
		line = append(line, ',')
	}
	return append(append(line, p.after...), '}', '\n')
}

// link adds the chain fields after head to m and returns the line and the new head.
func link(m map[string]any, head chainHead) ([]byte, chainHead, error) {
	p, err := prepare(m)
	if err != nil {
		return nil, head, err
	}
	line, next := p.link(head)
	return line[:len(line)-1], next, nil
}

// linked is a line of the trail taken apart.
type linked struct {
	obj    map[string]any
	chain  Chain
	action string
}

// parseLinked decodes a line and checks that its hash covers it and that it is in canonical
// form. It does not look at the records around it.
func parseLinked(line []byte) (linked, error) {
	m, err := decodeObject(line)
	if err != nil {
		return linked{}, &lineError{kind: kindMalformed, msg: "not a JSON object: " + err.Error()}
	}
	l := linked{obj: m}
	if ev, ok := m["event"].(map[string]any); ok {
		l.action, _ = ev["action"].(string)
	}
	chm, ok := m[chainKey].(map[string]any)
	if !ok {
		return l, &lineError{kind: kindNoChain, msg: "the record has no " + chainKey + " field"}
	}
	if l.chain, err = chainFields(chm); err != nil {
		return l, &lineError{kind: kindMalformed, msg: chainKey + ": " + err.Error()}
	}
	delete(chm, "hash")
	body, err := canonical(m)
	if err != nil {
		return l, &lineError{kind: kindMalformed, msg: err.Error()}
	}
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); got != l.chain.Hash {
		return l, &lineError{kind: kindEdited, msg: fmt.Sprintf("edited: seq %d hashes to %s, but the record says %s", l.chain.Seq, short(got), short(l.chain.Hash))}
	}
	chm["hash"] = l.chain.Hash
	canon, err := canonical(m)
	if err != nil {
		return l, &lineError{kind: kindMalformed, msg: err.Error()}
	}
	if !bytes.Equal(canon, line) {
		// The hash matched, so the content is what was written, but the bytes are not: a
		// duplicate key or re-encoding could make other readers see something else.
		return l, &lineError{kind: kindEdited, msg: fmt.Sprintf("edited: seq %d is not in the canonical form it was written in (reformatted, or a duplicate key)", l.chain.Seq)}
	}
	return l, nil
}

func chainFields(m map[string]any) (Chain, error) {
	var c Chain
	var ok bool
	if c.ID, ok = m["id"].(string); !ok || c.ID == "" {
		return c, errors.New("id is missing")
	}
	n, ok := m["seq"].(json.Number)
	if !ok {
		return c, errors.New("seq is missing")
	}
	seq, err := strconv.ParseUint(n.String(), 10, 64)
	if err != nil || seq == 0 {
		return c, fmt.Errorf("seq %q is not a positive integer", n)
	}
	c.Seq = seq
	if c.PrevHash, ok = m["prev_hash"].(string); !ok {
		return c, errors.New("prev_hash is missing")
	}
	if c.Hash, ok = m["hash"].(string); !ok || len(c.Hash) != sha256.Size*2 {
		return c, errors.New("hash is missing or not a SHA-256")
	}
	return c, nil
}

// short abbreviates a hash for messages.
func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}
