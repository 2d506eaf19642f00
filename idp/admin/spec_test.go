package admin

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/go-cmp/cmp"
)

// specChecker validates the test traffic against openapi.yaml.
type specChecker struct {
	doc    *openapi3.T
	router routers.Router
}

func loadSpec(t *testing.T, serverURL string) *specChecker {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("openapi.yaml")
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: serverURL + APIPrefix}}
	router, err := legacyrouter.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &specChecker{doc: doc, router: router}
}

// exchange is one request as the document sees it.
type exchange struct {
	input       *openapi3filter.RequestValidationInput
	requestErr  error
	routeMissed bool
}

func (s *specChecker) request(t *testing.T, r *http.Request, body []byte) *exchange {
	t.Helper()
	probe := r.Clone(context.Background())
	probe.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := s.router.FindRoute(probe)
	if err != nil {
		return &exchange{routeMissed: true}
	}
	in := &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	return &exchange{input: in, requestErr: openapi3filter.ValidateRequest(context.Background(), in)}
}

func (x *exchange) response(t *testing.T, r resp) {
	t.Helper()
	if x.routeMissed {
		if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed && r.status != http.StatusUnauthorized {
			t.Errorf("a path the document does not know was answered %d: %s", r.status, r.body)
		}
		return
	}
	if x.requestErr != nil && r.status < 400 {
		t.Errorf("the handler accepted (%d) a request the document rejects: %v", r.status, x.requestErr)
	}
	err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: x.input, Status: r.status, Header: r.header,
		Body: io.NopCloser(bytes.NewReader(r.body)), Options: &openapi3filter.Options{IncludeResponseStatus: true},
	})
	if err != nil {
		t.Errorf("response %d to %s %s does not match openapi.yaml: %v\nbody: %s", r.status, x.input.Request.Method,
			x.input.Request.URL.Path, err, r.body)
	}
}

// TestOpenAPIDocumentsEveryRoute: what the handler serves and what the document describes
// are the same set of operations.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	e := newEnv(t, backends[0].open)
	var documented []string
	for path, item := range e.spec.doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(documented)
	if diff := cmp.Diff(documented, e.h.Routes()); diff != "" {
		t.Errorf("documented (-) vs served (+) routes:\n%s", diff)
	}
	for _, route := range e.h.Routes() {
		method, path, _ := strings.Cut(route, " ")
		// Every served route answers (not the mux's 404) for an unauthenticated caller.
		r := e.do(t, req{method: method, path: strings.NewReplacer("{id}", "x", "{sid}", "y").Replace(path)})
		if r.status != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d, want 401", route, r.status)
		}
	}
}
