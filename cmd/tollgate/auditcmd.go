package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tollgate/tollgate/audit"
)

const auditUsage = `usage: tollgate audit verify [--key PUBKEY] FILE...

Checks an audit trail: every record hashes to its hash and links to the one before it, no
record is missing or out of order, and, with --key, every checkpoint is signed by that key.
Give rotated files oldest first (.gz files are read as they are). Exit 0 when the trail
verifies, 1 at the first problem (named by file:line), 2 on a usage error.

  --key PUBKEY   Ed25519 public key (PEM), e.g. <spool.dir>/checkpoint.pub; without it,
                 checkpoints are not verified and the report says so
`

func cmdAudit(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, auditUsage) }
	keyFile := fs.String("key", "", "Ed25519 public key (PEM) that signs the checkpoints")
	// Flags may come before or after the files.
	var files []string
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if rest = fs.Args(); len(rest) == 0 {
			break
		}
		files, rest = append(files, rest[0]), rest[1:]
	}
	if len(files) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	var opt audit.VerifyOptions
	if *keyFile != "" {
		pub, err := audit.ReadPublicKey(*keyFile)
		if err != nil {
			fmt.Fprintf(stderr, "tollgate audit verify: --key: %v\n", err)
			return 2
		}
		opt.PublicKey = pub
	}
	rep, err := audit.Verify(files, opt)
	if err != nil {
		var ve *audit.VerifyError
		if errors.As(err, &ve) {
			fmt.Fprintf(stderr, "FAILED: %v\n", ve)
			fmt.Fprintf(stderr, "%d records verified before it\n", rep.Records)
		} else {
			fmt.Fprintf(stderr, "tollgate audit verify: %v\n", err)
		}
		return 1
	}
	printReport(stdout, rep, opt.PublicKey)
	return 0
}

func printReport(w io.Writer, rep audit.VerifyReport, key ed25519.PublicKey) {
	fmt.Fprintf(w, "ok: %d records in %d file(s), %d chain(s)", rep.Records, rep.Files, len(rep.Chains))
	if rep.Duplicates > 0 {
		fmt.Fprintf(w, "; %d repeated deliveries skipped", rep.Duplicates)
	}
	fmt.Fprintln(w)
	for _, c := range rep.Chains {
		fmt.Fprintf(w, "  chain %s: seq %d to %d", c.ID, c.First, c.Last)
		if c.First > 1 {
			fmt.Fprintf(w, " (earlier records are in files not given)")
		}
		switch {
		case key == nil:
		case c.LastSigned == 0:
			fmt.Fprintf(w, "; no verified checkpoint yet")
		case c.LastSigned < c.Last:
			fmt.Fprintf(w, "; signed up to seq %d, the %d records after it are not covered by a checkpoint yet", c.LastSigned, c.Last-c.LastSigned)
		default:
			fmt.Fprintf(w, "; signed up to the last record")
		}
		fmt.Fprintln(w)
	}
	if key == nil {
		fmt.Fprintf(w, "checkpoints NOT verified: %d found, no --key given (hashes and order only)\n", rep.Checkpoints)
		return
	}
	fmt.Fprintf(w, "%d checkpoint(s) verified with key %s\n", rep.Verified, audit.KeyID(key))
}
