package policy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/ory/ladon/manager/memory"
)

// Engine holds one loaded policy file. It is immutable after Load or Parse and safe for
// concurrent use; a reload builds a new Engine and swaps it in.
type Engine struct {
	version    string
	candidates candidateFinder
	matcher    policyMatcher
	// manager is the store behind candidates, kept so the evaluation can be checked against
	// ladon's own Ladon.IsAllowed.
	manager   *memory.MemoryManager
	roles     map[string]role
	roleNames []string
}

// Load reads and parses the policy file at path; errors name the path as given.
func Load(path string) (*Engine, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return Parse(path, data)
}

// Parse validates and compiles a policy file. name is used in error messages. On failure the
// error joins one *ValidationError per problem, in line order.
func Parse(name string, data []byte) (*Engine, error) {
	l := &loader{file: name}
	m := l.validate(l.decode(data))
	if len(l.errs) > 0 {
		slices.SortStableFunc(l.errs, func(a, b *ValidationError) int { return cmp.Compare(a.Line, b.Line) })
		errs := make([]error, len(l.errs))
		for i, e := range l.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	mgr, matcher, err := compile(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	e := &Engine{
		version:    fileVersion(data),
		candidates: mgr,
		matcher:    matcher,
		manager:    mgr,
		roles:      make(map[string]role, len(m.roles)),
	}
	for _, r := range m.roles {
		e.roles[r.name] = r
		e.roleNames = append(e.roleNames, r.name)
	}
	slices.Sort(e.roleNames)
	return e, nil
}

// fileVersion identifies a policy by its exact bytes, so decision caches and audit records can
// tell two policies apart. 64 bits keeps it short in logs while making an accidental collision
// between two deployed versions negligible.
func fileVersion(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// Version is the short hex SHA-256 of the policy file's contents.
func (e *Engine) Version() string { return e.version }

// Roles returns the roles the policy defines, sorted.
func (e *Engine) Roles() []string { return slices.Clone(e.roleNames) }

// RoleInfo returns a role's description and the routes its allow list names, sorted. A route
// named here can still be refused by a deny on an overlapping route, so this is what the role
// was granted, not a promise about every request.
func (e *Engine) RoleInfo(name string) (description string, routes []string, ok bool) {
	r, ok := e.roles[name]
	if !ok {
		return "", nil, false
	}
	routes = slices.Clone(r.allow)
	slices.Sort(routes)
	return r.description, routes, true
}
