// Package shtext reads the shell snippets ipamwatch prints (a finding's confirm and fix, a
// runbook block) as text, without a shell parser: the diagnosis finds the variables a snippet
// reads, and internal/shellcheck looks for placeholders, in what Unquoted leaves.
package shtext

// Unquoted blanks the single-quoted parts of a shell script and its # comments, keeping every
// other byte at its offset: what remains is what the shell expands. A quote inside double
// quotes is literal; # starts a comment at the start of a word only.
func Unquoted(script string) string {
	b := []byte(script)
	inSingle, inDouble, inComment := false, false, false
	for i, c := range b {
		switch {
		case inComment:
			if c == '\n' {
				inComment = false
			} else {
				b[i] = ' '
			}
		case inSingle:
			if c == '\'' {
				inSingle = false
			}
			b[i] = ' '
		case inDouble:
			if c == '"' && b[i-1] != '\\' {
				inDouble = false
			}
		case c == '"':
			inDouble = true
		case c == '\'':
			inSingle = true
			b[i] = ' '
		case c == '#' && (i == 0 || b[i-1] == ' ' || b[i-1] == '\n' || b[i-1] == '\t'):
			inComment = true
			b[i] = ' '
		}
	}
	return string(b)
}
