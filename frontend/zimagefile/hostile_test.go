package zimagefile

import (
	"errors"
	"strings"
	"testing"
)

// billionLaughs is nine lines that expand to 10^9 strings.
func billionLaughs(under string) string {
	var b strings.Builder
	b.WriteString(under + ":\n  l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n")
	for i := 1; i < 10; i++ {
		c, p := string(rune('0'+i)), string(rune('0'+i-1))
		b.WriteString("  l" + c + ": &l" + c + " [*l" + p + ", *l" + p + ", *l" + p + ", *l" + p + ", *l" + p +
			", *l" + p + ", *l" + p + ", *l" + p + ", *l" + p + ", *l" + p + "]\n")
	}
	return b.String()
}

// A ZImagefile runs inside buildkitd: an alias bomb must be refused after
// bounded work, at the alias that went over the budget, before any check
// walks it.
func TestAliasBombRefused(t *testing.T) {
	src := "base: busybox\n" + billionLaughs("labels")
	_, err := Parse("ZImagefile", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 {
		t.Fatalf("alias bomb: got %v, want one error", err)
	}
	e := list[0]
	if !strings.Contains(e.Msg, "expands to more than") || e.Range.Start.Line < 3 || e.Range.Start.Line > 12 {
		t.Fatalf("alias bomb: got %v, want a budget error at one of its aliases", e)
	}
}

// Merged values are checked like written ones, and the error points where
// the merge takes effect.
func TestMergeKeysValidated(t *testing.T) {
	src := `stages:
  base: &common
    base: busybox
    steps: [{run: echo}]
  app:
    <<: [*common, {workdir: "a\nb", stopsignal: nope}]
    base: base
`
	checkErrors(t, src, []string{
		"6:29: workdir must be a single line",
		`6:49: stopsignal: "nope" is not a signal`,
	})
	// An unknown key merged in is as unknown as a written one.
	checkErrors(t, "base: busybox\n<<: {stesp: []}\n", []string{`2:6: unknown key "stesp" in the ZImagefile (did you mean "steps"?)`})
	// A merge of something that is not a mapping is refused where it is.
	checkErrors(t, "base: busybox\n<<: [x]\n", []string{`2:6: a merge key (<<) takes a mapping or a list of mappings, got "x"`})
}

// A value anchored where anything goes (a run command may span lines) and
// reused by alias where it may not is caught at the alias, where it is used:
// the check is the use site's, not the anchor's.
func TestAliasSmugglingCaughtAtUse(t *testing.T) {
	src := `base: busybox
steps:
  - run: &script "echo a\necho b"
  - copy: app
    to: *script
  - run: &mode "u+rwx; rm -rf /"
  - copy: x
    to: /x
    chmod: *mode
user: *script
`
	checkErrors(t, src, []string{
		"5:9: to must be a single line",
		`9:12: chmod`,
		"10:7: user must be a single line",
	})
}
