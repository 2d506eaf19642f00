package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"
)

// newTransport keeps enough idle connections for a busy gate: Go's default of two per host
// makes a proxy open a new connection for most requests under load. An https upstream is
// verified as c.TLS says and shown clientCert when it asks for one; HTTP/2 is tried only when
// c.HTTP2 asks for it.
func newTransport(c UpstreamConfig, clientCert *KeyPair) (*http.Transport, error) {
	tlsConfig, err := c.upstreamTLS(clientCert)
	if err != nil {
		return nil, err
	}
	return &http.Transport{
		Proxy:                 nil, // the upstream is reached directly, never via HTTP_PROXY
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConfig,
		ForceAttemptHTTP2:     c.HTTP2 && tlsConfig != nil,
		MaxIdleConns:          c.MaxIdleConns,
		MaxIdleConnsPerHost:   c.MaxIdleConns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: c.Timeout,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}, nil
}

// upstreamHandler forwards an authorized request. Rewrite (never Director) runs after the
// reverse proxy has removed hop-by-hop headers, so nothing can undo the identity set here.
func (g *Gate) upstreamHandler() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		Transport:      g.deps.Transport,
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.upstreamError,
		ErrorLog:       nil,
		BufferPool:     CopyBuffers{},
	}
}

// CopyBuffers lends the gate's reverse proxy its 32 KiB body-copy buffers: without a pool it
// allocates and zeroes one per request, which shows in a proxy's CPU profile. Benchmarks give
// it to the bare reverse proxy they compare the gate with, so that the comparison measures
// what the gate adds, not a pool the bare proxy lacks.
type CopyBuffers struct{}

var copyBufferPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (CopyBuffers) Get() []byte { return copyBufferPool.Get().(*[32 << 10]byte)[:] }

func (CopyBuffers) Put(b []byte) {
	if len(b) == 32<<10 {
		copyBufferPool.Put((*[32 << 10]byte)(b))
	}
}

func (g *Gate) rewrite(pr *httputil.ProxyRequest) {
	st := state(pr.In)
	out := pr.Out
	out.URL.Scheme, out.URL.Host = g.upstream.Scheme, g.upstream.Host
	out.Host = ""
	// The path forwarded is exactly the canonical path that was authorized.
	base := strings.TrimSuffix(g.upstream.Path, "/")
	out.URL.Path = base + st.target.Decoded()
	out.URL.RawPath = strings.TrimSuffix(g.upstream.EscapedPath(), "/") + st.target.Path
	out.URL.RawQuery = st.target.RawQuery
	out.URL.Fragment = ""

	g.strip.strip(out.Header)
	g.cookie.stripCookies(out.Header)
	// Request trailers arrive after the decision and could carry a header of ours.
	out.Trailer = nil
	out.Header["X-Request-Id"] = st.idHeader

	var b headerBatch
	setXForwarded(&b, out.Header, pr.In)
	g.setIdentity(&b, st)
	b.apply(out.Header, st.headerVals[:])
	st.upstreamStart = g.deps.Now()
}

// setXForwarded is httputil.ProxyRequest.SetXForwarded, through a headerBatch. The client's
// own X-Forwarded-* were stripped, so X-Forwarded-For names the peer that connected alone.
func setXForwarded(b *headerBatch, out http.Header, in *http.Request) {
	if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		b.set("X-Forwarded-For", ip)
	} else {
		delete(out, "X-Forwarded-For")
	}
	b.set("X-Forwarded-Host", in.Host)
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	b.set("X-Forwarded-Proto", proto)
}

// headerBatch sets several single-valued headers with their values in one array (the
// request's state has room for them): Header.Set allocates a slice per header. Each header's
// slice is capped at its one value, so an Add elsewhere copies rather than overwrites a
// neighbour. Keys must be canonical.
type headerBatch struct {
	keys, vals [headerBatchMax]string
	n          int
}

// headerBatchMax is the most headers a batch sets: the forwarding and identity headers.
const headerBatchMax = 12

func (b *headerBatch) set(key, value string) {
	b.keys[b.n], b.vals[b.n] = key, value
	b.n++
}

// apply sets the headers, with their values in store when it is long enough.
func (b *headerBatch) apply(h http.Header, store []string) {
	all := store
	if len(all) < b.n {
		all = make([]string, b.n)
	}
	copy(all, b.vals[:b.n])
	for i := range b.n {
		h[b.keys[i]] = all[i : i+1 : i+1]
	}
}

// headerValue drops control characters, which would make the request invalid.
func headerValue(v string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, v)
}

func (g *Gate) modifyResponse(resp *http.Response) error {
	st := state(resp.Request)
	st.upstreamStatus = resp.StatusCode
	st.upstreamDur = g.deps.Now().Sub(st.upstreamStart)
	g.deps.Metrics.upstreamDuration.Observe(st.upstreamDur.Seconds())
	g.cookie.stripSetCookies(resp.Header)
	return nil
}

func (g *Gate) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	st := state(r)
	if errors.Is(err, context.Canceled) {
		// The client went away; there is nobody to answer.
		st.upstreamStatus = 499
		return
	}
	g.deps.Log.Warn("upstream request failed", "request_id", st.id, "err", err)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		st.upstreamStatus = http.StatusGatewayTimeout
		g.errorPage(w, r, st, http.StatusGatewayTimeout, "The application is slow to answer", "The application did not answer in time. Try again in a moment.")
		return
	}
	st.upstreamStatus = http.StatusBadGateway
	g.errorPage(w, r, st, http.StatusBadGateway, "The application is unavailable", "The gate could not reach the application. Try again in a moment.")
}
