package policy

import "math/bits"

// NeededRoles lists, on a denial, the roles that on their own would be allowed the request (with
// a fresh second factor, in the same network, time and ownership). The
// common case, one route whose rules carry no conditions, was worked out when the index was
// built. Otherwise the walk runs again over every role's rules and the answer, a set of roles,
// is interned: the same set always returns the same read-only slice, so that denials do not
// allocate either once a set has been seen.

// neededWords bounds the role sets that are interned: 8 words, 512 roles. A policy with more
// roles still works; its uncommon denials allocate.
const neededWords = 8

// maxNeededSets bounds the interned sets. There are at most as many as there are distinct
// combinations of matching rules and conditions, which real policies keep small; past the
// bound, denials allocate instead of growing the table.
const maxNeededSets = 4096

type roleSet [neededWords]uint64

// roleTally records, by bit, the roles allowed and the roles denied; the big forms serve
// policies with more roles than a roleSet holds.
type roleTally struct {
	allow, deny       roleSet
	bigAllow, bigDeny []uint64
}

func (m *matcher) neededRoles() []string {
	if m.groups == 1 && !m.complex && m.matched[0].simple {
		return m.matched[0].needed
	}
	var acc roleTally
	if words := (len(m.e.roleNames) + 63) / 64; words > neededWords {
		acc.bigAllow, acc.bigDeny = make([]uint64, words), make([]uint64, words)
	}
	if m.groups <= maxKeptGroups && !m.complex {
		for _, mr := range m.matched[:m.groups] {
			for i := range mr.rules {
				m.gather(&mr.rules[i], &acc)
			}
		}
	} else {
		m.walk(m.e.root, 0, &acc)
	}
	if acc.bigAllow != nil {
		for i := range acc.bigAllow {
			acc.bigAllow[i] &^= acc.bigDeny[i]
		}
		return m.e.roleNamesOf(acc.bigAllow)
	}
	set := acc.allow
	for i := range set {
		set[i] &^= acc.deny[i]
	}
	if set == (roleSet{}) {
		return nil
	}
	return m.e.internNeeded(set)
}

// gather records what one rule says about its role. A rule held back only by the age of the
// second factor counts as allowing: the question is which roles may do this at all, and
// proving a factor again is routine.
func (m *matcher) gather(r *rule, acc *roleTally) {
	if m.check(r) == fails {
		return
	}
	word, bit := r.role/64, uint64(1)<<(r.role%64)
	switch {
	case acc.bigAllow != nil && r.p.allow:
		acc.bigAllow[word] |= bit
	case acc.bigAllow != nil:
		acc.bigDeny[word] |= bit
	case r.p.allow:
		acc.allow[word] |= bit
	default:
		acc.deny[word] |= bit
	}
}

func (e *Engine) roleNamesOf(set []uint64) []string {
	var out []string
	for w, word := range set {
		for word != 0 {
			i := bits.TrailingZeros64(word)
			out = append(out, e.roleNames[w*64+i])
			word &^= 1 << i
		}
	}
	return out
}

// internNeeded returns the shared slice for a role set, adding it to a copy-on-write table.
func (e *Engine) internNeeded(set roleSet) []string {
	cur := e.needed.Load()
	if cur != nil {
		if names, ok := (*cur)[set]; ok {
			return names
		}
	}
	names := e.roleNamesOf(set[:])
	for {
		if cur != nil && len(*cur) >= maxNeededSets {
			return names
		}
		next := make(map[roleSet][]string, 1+lenOf(cur))
		if cur != nil {
			for k, v := range *cur {
				next[k] = v
			}
		}
		next[set] = names
		if e.needed.CompareAndSwap(cur, &next) {
			return names
		}
		cur = e.needed.Load()
		if names2, ok := (*cur)[set]; ok {
			return names2
		}
	}
}

func lenOf(m *map[roleSet][]string) int {
	if m == nil {
		return 0
	}
	return len(*m)
}
