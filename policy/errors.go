package policy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ValidationError is one problem found in a policy file. Parse joins every problem it finds
// with errors.Join, so callers (check-config, reload) can show them all at once, and tools can
// pick them apart with errors.As.
type ValidationError struct {
	File string // the name given to Parse, or the path given to Load
	Line int    // 1-based line of the offending node
	Key  string // dotted path of the offending key, e.g. "roles.sales_rep.allow"; empty for the whole file
	Msg  string // what is wrong and how to fix it
}

func (e *ValidationError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Msg)
}

// yamlLine pulls the line number out of a go-yaml syntax error, which carries it only as text.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a go-yaml error into a ValidationError. go-yaml leaves the line out of the
// message when the problem is on the first line, so that is the line reported then.
func syntaxError(file string, err error) *ValidationError {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			line = n
		}
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &ValidationError{File: file, Line: line, Msg: "invalid YAML: " + msg}
}
