// Package shellcheck proves that a shell snippet ipamwatch prints (a finding's confirm, a
// fix, a runbook block) runs when pasted: it parses with a real POSIX/bash parser
// (mvdan.cc/sh) and rejects <placeholders>, which bash would read as redirections. Tests use
// it; the programs never import it.
package shellcheck

import (
	"fmt"
	"regexp"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/ipamwatch/ipamwatch/internal/shtext"
)

var placeholderRe = regexp.MustCompile(`<[A-Za-z][A-Za-z0-9 _.-]*>`)

// Check returns an error when script does not parse as bash or holds a <placeholder> outside
// single quotes.
func Check(script string) error {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(script), "")
	if err != nil {
		return fmt.Errorf("does not parse as bash: %w", err)
	}
	var bad error
	syntax.Walk(f, func(n syntax.Node) bool {
		if bad != nil {
			return false
		}
		if r, ok := n.(*syntax.Redirect); ok && r.Word != nil {
			// A redirection to or from a word that is not a path or descriptor is a
			// placeholder bash misread: "<node>" parses as "< node >".
			lit := r.Word.Lit()
			if (r.Op == syntax.RdrIn || r.Op == syntax.RdrOut) && lit != "" && !strings.ContainsAny(lit, "/$.&") && lit != "-" {
				bad = fmt.Errorf("redirection %s%s looks like a placeholder", r.Op, lit)
			}
		}
		return true
	})
	if bad != nil {
		return bad
	}
	if m := placeholderRe.FindString(shtext.Unquoted(script)); m != "" {
		return fmt.Errorf("holds the placeholder %s", m)
	}
	return nil
}

// ChainsCommands reports whether a script joins two commands with && (or ||), so that one
// failing command silently skips the others. Conditions ([ ... ] && [ ... ]) are fine.
func ChainsCommands(script string) bool {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(script), "")
	if err != nil {
		return false
	}
	chained := false
	isTest := func(s *syntax.Stmt) bool {
		if s == nil {
			return false
		}
		switch c := s.Cmd.(type) {
		case *syntax.TestClause:
			return true
		case *syntax.BinaryCmd:
			return true // nested: judged on its own when walked
		case *syntax.CallExpr:
			return len(c.Args) > 0 && (c.Args[0].Lit() == "[" || c.Args[0].Lit() == "test")
		}
		return false
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		if b, ok := n.(*syntax.BinaryCmd); ok && (b.Op == syntax.AndStmt || b.Op == syntax.OrStmt) {
			if !isTest(b.X) && !isTest(b.Y) {
				chained = true
			}
		}
		return !chained
	})
	return chained
}

// Commands returns the simple commands of a script, each as its words with variables left
// as written ("$NODE"), for tests that run or inspect particular commands (kubectl, aws).
func Commands(script string) ([][]string, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(script), "")
	if err != nil {
		return nil, err
	}
	var out [][]string
	printer := syntax.NewPrinter()
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		words := make([]string, 0, len(call.Args))
		for _, w := range call.Args {
			var sb strings.Builder
			if err := printer.Print(&sb, w); err != nil {
				return true
			}
			words = append(words, sb.String())
		}
		out = append(out, words)
		return true
	})
	return out, nil
}
