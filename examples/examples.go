// Package examples ships the example policy so that the demo runs from the binary alone. The
// example billing application lives in examples/billing.
package examples

import _ "embed"

// Policy is examples/policy.yaml: the five billing roles on the example application.
//
//go:embed policy.yaml
var Policy []byte

// PolicyName is how messages about Policy name it.
const PolicyName = "examples/policy.yaml"
