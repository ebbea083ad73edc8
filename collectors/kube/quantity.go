package kube

import (
	"math"
	"math/big"
	"strings"
)

// Value parses a Kubernetes quantity (k8s.io/apimachinery/pkg/api/resource, "the
// serialization format": a signed decimal number with an optional binary-SI suffix Ki..Ei,
// decimal-SI suffix n, u, m, k, M, G, T, P, E, or decimal exponent e/E<int>) and returns
// its value rounded up to an integer, as resource.Quantity.Value does, saturated at the
// int64 bounds. ok is false for a malformed string (or one longer than any real quantity).
func (q quantity) Value() (v int64, ok bool) {
	s := string(q)
	if len(s) > 64 {
		return 0, false
	}
	num, suffix := splitQuantity(s)
	if num == "" || !validNumber(num) {
		return 0, false
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, false
	}
	mult, ok := suffixMultiplier(suffix)
	if !ok {
		return 0, false
	}
	r.Mul(r, mult)
	// Round away from zero, as Quantity.Value does (the scheduler's ceiling for the positive
	// counts the agent reads).
	n, rem := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if rem.Sign() != 0 {
		n.Add(n, big.NewInt(int64(rem.Sign())))
	}
	switch {
	case n.IsInt64():
		return n.Int64(), true
	case n.Sign() > 0:
		return math.MaxInt64, true
	default:
		return math.MinInt64, true
	}
}

// splitQuantity splits at the first character that cannot belong to the number. An 'e' or
// 'E' followed by a digit or sign starts an exponent, which stays a suffix.
func splitQuantity(s string) (num, suffix string) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	return s[:i], s[i:]
}

// validNumber: a sign, digits with at most one '.', at least one digit.
func validNumber(s string) bool {
	s = strings.TrimLeft(s, "+-")
	if len(s) == 0 || strings.Count(s, ".") > 1 || s == "." {
		return false
	}
	return strings.Trim(s, "0123456789.") == ""
}

func suffixMultiplier(suffix string) (*big.Rat, bool) {
	pow := func(base, exp int64) *big.Rat {
		if exp >= 0 {
			return new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(base), big.NewInt(exp), nil))
		}
		return new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(base), big.NewInt(-exp), nil))
	}
	switch suffix {
	case "":
		return pow(10, 0), true
	case "Ki", "Mi", "Gi", "Ti", "Pi", "Ei":
		return pow(2, 10*int64(strings.Index("KMGTPE", suffix[:1])+1)), true
	case "n":
		return pow(10, -9), true
	case "u":
		return pow(10, -6), true
	case "m":
		return pow(10, -3), true
	case "k":
		return pow(10, 3), true
	case "M", "G", "T", "P", "E":
		return pow(10, 3*int64(strings.Index("MGTPE", suffix)+2)), true
	}
	if len(suffix) >= 2 && (suffix[0] == 'e' || suffix[0] == 'E') {
		exp, ok := smallInt(suffix[1:])
		if !ok {
			return nil, false
		}
		return pow(10, exp), true
	}
	return nil, false
}

// smallInt parses a signed decimal exponent; large exponents are refused (no node has a
// resource of 10^100, and big.Int.Exp would spend its time on one).
func smallInt(s string) (int64, bool) {
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	// Leading zeros do not make an exponent large ("1E0000" is 1, and the API server may
	// hand such a form back as written).
	if s = strings.TrimLeft(s, "0"); s == "" {
		s = "0"
	}
	if len(s) > 3 {
		return 0, false
	}
	var v int64
	for _, c := range s {
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}
