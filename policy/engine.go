package policy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ory/ladon/manager/memory"
)

// Engine holds one loaded policy file. It is immutable after Load or Parse (apart from an
// internal cache) and safe for concurrent use; a reload builds a new Engine and swaps it in.
type Engine struct {
	version   string
	now       func() time.Time
	roles     map[string]role
	roleNames []string
	roleID    map[string]int32
	methodID  map[string]uint16
	root      *node
	policies  map[string]*compiledPolicy
	warnings  []ValidationError
	needed    atomic.Pointer[map[roleSet][]string]

	// The reference evaluation: ladon's manager and matcher over the same policies.
	manager    *memory.MemoryManager
	candidates candidateFinder
	matcher    policyMatcher
}

// Options adjust how an Engine is built. The zero value is what Load and Parse use.
type Options struct {
	// Now is the clock for requests that carry no time of their own; nil means time.Now.
	Now func() time.Time
}

// Load reads and parses the policy file at path; errors name the path as given.
func Load(path string) (*Engine, error) { return LoadWith(path, Options{}) }

// LoadWith is Load with options.
func LoadWith(path string, o Options) (*Engine, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return ParseWith(path, data, o)
}

// Parse validates and compiles a policy file. name is used in error messages. On failure the
// error joins one *ValidationError per problem, in line order. Findings that do not make the
// file wrong are kept for Warnings.
func Parse(name string, data []byte) (*Engine, error) { return ParseWith(name, data, Options{}) }

// ParseWith is Parse with options.
func ParseWith(name string, data []byte, o Options) (*Engine, error) {
	l := &loader{file: name}
	m := l.validate(l.decode(data))
	if len(l.errs) == 0 {
		// The whole-file checks need a complete model; they run once everything else is right.
		l.lint(m)
	}
	if len(l.errs) > 0 {
		return nil, errors.Join(asErrors(sortedByLine(l.errs))...)
	}
	c, err := compile(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Engine{
		version:    fileVersion(data),
		now:        o.Now,
		roles:      make(map[string]role, len(m.roles)),
		roleNames:  c.roleNames,
		roleID:     c.roleID,
		methodID:   c.methodID,
		root:       c.root,
		policies:   c.policies,
		manager:    c.manager,
		candidates: c.manager,
		matcher:    c.matcher,
	}
	for _, r := range m.roles {
		e.roles[r.name] = r
	}
	for _, w := range sortedByLine(l.warns) {
		e.warnings = append(e.warnings, *w)
	}
	return e, nil
}

func sortedByLine(list []*ValidationError) []*ValidationError {
	slices.SortStableFunc(list, func(a, b *ValidationError) int { return cmp.Compare(a.Line, b.Line) })
	return list
}

func asErrors(list []*ValidationError) []error {
	errs := make([]error, len(list))
	for i, e := range list {
		errs[i] = e
	}
	return errs
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

// Warnings returns what the loader found worth a look but not wrong, in line order: routes no
// role uses, routes nested in others, unused condition sets, raw subject templates that match
// no role. check-config and the policy tools print them.
func (e *Engine) Warnings() []ValidationError { return slices.Clone(e.warnings) }

// RoleInfo returns a role's description and the routes its allow list names, sorted. A route
// named here can still be refused by a deny on an overlapping route or by a condition, so this
// is what the role was granted, not a promise about every request.
func (e *Engine) RoleInfo(name string) (description string, routes []string, ok bool) {
	r, ok := e.roles[name]
	if !ok {
		return "", nil, false
	}
	routes = slices.Clone(r.allow)
	slices.Sort(routes)
	return r.description, routes, true
}
