package yamldoc

import (
	"fmt"
	"strings"
)

// UnknownKey is the message for key, not one of allowed, in what: it names
// the allowed key the user most likely meant, or lists them all.
func UnknownKey(key, what string, allowed []string) string {
	msg := fmt.Sprintf("unknown key %q in %s", key, what)
	if s := Suggest(key, allowed); s != "" {
		return msg + fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg + " (allowed: " + strings.Join(allowed, ", ") + ")"
}

// Suggest returns the entry of allowed closest to key when key is a likely
// typo of it (at most two edits away), or "".
func Suggest(key string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if d := distance(strings.ToLower(key), a); d < bestD {
			best, bestD = a, d
		}
	}
	// Two edits turn any short key into another: only an exact
	// case-insensitive match is a likely typo there.
	if len(key) <= 2 && bestD > 0 {
		return ""
	}
	return best
}

// distance is the Levenshtein distance of a and b. Long strings are never
// typos of a key, and are not worth quadratic work on hostile input.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
