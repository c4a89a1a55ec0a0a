package yamldoc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// find returns the value node at a dotted path of mapping keys.
func find(t *testing.T, n *yaml.Node, path string) *yaml.Node {
	t.Helper()
	for _, k := range strings.Split(path, ".") {
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			t.Fatalf("no %s in tree", path)
		}
		n = next
	}
	return n
}

func noAliases(t *testing.T, n *yaml.Node) {
	t.Helper()
	if n.Kind == yaml.AliasNode || n.Alias != nil {
		t.Fatalf("alias node left at %d:%d", n.Line, n.Column)
	}
	for _, c := range n.Content {
		if c.Kind == yaml.ScalarNode && c.ShortTag() == "!!merge" {
			t.Fatalf("merge key left at %d:%d", c.Line, c.Column)
		}
		noAliases(t, c)
	}
}

func TestAliasesExpandedAtUseSite(t *testing.T) {
	doc := "evil: &x \"../../../etc\"\nvol:\n  name: *x\nlist: &l [a, b]\nagain: *l\n"
	root, err := Parse("a.yaml", []byte(doc), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	noAliases(t, root)
	n := find(t, root, "vol.name")
	if n.Kind != yaml.ScalarNode || n.Value != "../../../etc" {
		t.Fatalf("vol.name = %+v", n)
	}
	if PosOf(n) != (Pos{Line: 3, Column: 9}) {
		t.Errorf("alias copy at %s, want the use site 3:9", PosOf(n))
	}
	if l := find(t, root, "again"); l.Kind != yaml.SequenceNode || len(l.Content) != 2 || PosOf(l) != (Pos{Line: 5, Column: 8}) {
		t.Errorf("again = %+v", l)
	}
}

func TestMergeKeys(t *testing.T) {
	doc := `base: &base {a: 1, b: 2}
other: &other {b: 20, c: 30, d: 40}
m:
  <<: [*base, *other]
  d: 4
  e: 5
single:
  <<: *other
  c: 3
quoted:
  "<<": not a merge
`
	root, err := Parse("m.yaml", []byte(doc), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	noAliases(t, root)
	var got map[string]any
	if err := root.Decode(&got); err != nil {
		t.Fatal(err)
	}
	// What yaml.v3 itself decodes from the original is the reference.
	var want map[string]any
	if err := yaml.Unmarshal([]byte(doc), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("expanded tree decodes to\n%v\nwant\n%v", got, want)
	}
	m := got["m"].(map[string]any)
	if m["a"] != 1 || m["b"] != 2 || m["c"] != 30 || m["d"] != 4 || m["e"] != 5 {
		t.Errorf("m = %v (explicit keys win, then the earlier merged mapping)", m)
	}
	if s := got["single"].(map[string]any); s["c"] != 3 || s["b"] != 20 {
		t.Errorf("single = %v", s)
	}
	// Merged keys keep the position where they are written.
	if p := PosOf(find(t, root, "m.a")); p != (Pos{Line: 1, Column: 17}) {
		t.Errorf("merged m.a at %s, want 1:17", p)
	}
}

func TestMergeOfScalarRefused(t *testing.T) {
	_, err := Parse("m.yaml", []byte("x: &x 1\nm:\n  <<: *x\n"), Limits{})
	var e *Error
	if !errors.As(err, &e) || e.Pos.Line != 3 || !strings.Contains(e.Msg, "merge key") {
		t.Fatalf("got %v", err)
	}
}

// billionLaughs has 10 levels of 10 aliases each: 10^10 nodes expanded.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 10; i++ {
		p := "*l" + string(rune('0'+i-1))
		if i == 10 {
			b.WriteString("top: [")
		} else {
			b.WriteString("l" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [")
		}
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestBillionLaughsRefusedFast(t *testing.T) {
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(billionLaughs()), Limits{})

	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrBudget) {
		t.Fatalf("got %v", err)
	}
	if e.Pos.Line == 0 || !strings.Contains(e.Msg, "more than 100000 nodes via aliases") {
		t.Errorf("want a positioned budget error, got %v", err)
	}
	// The budget error is the proof of bounded work (expanding it all takes
	// hours); the time is only logged, machines here are shared and slow.
	t.Logf("refused in %s", time.Since(start))
	// A smaller budget is honoured, and names itself.
	if _, err := Parse("bomb.yaml", []byte(billionLaughs()), Limits{MaxAliasNodes: 50}); err == nil || !strings.Contains(err.Error(), "more than 50 nodes") {
		t.Errorf("got %v", err)
	}
}

func TestSelfContainingAliasRefused(t *testing.T) {
	for _, doc := range []string{"a: &a [*a]\n", "m: &m {x: 1, <<: *m}\n", "s: &s {k: [1, *s]}\n"} {
		_, err := Parse("c.yaml", []byte(doc), Limits{})
		var e *Error
		if !errors.As(err, &e) || e.Pos.Line != 1 || !strings.Contains(e.Msg, "contains it") {
			t.Errorf("%q: got %v", doc, err)
		}
	}
}

func TestEmptyAndMultipleDocuments(t *testing.T) {
	for _, doc := range []string{"", "   \n", "# only a comment\n", "---\n"} {
		_, err := Parse("e.yaml", []byte(doc), Limits{})
		if !errors.Is(err, ErrEmpty) || !strings.HasPrefix(err.Error(), "e.yaml: ") {
			t.Errorf("%q: got %v", doc, err)
		}
	}
	if _, err := Parse("t.yaml", []byte("a: 1\n---\n"), Limits{}); err != nil {
		t.Errorf("trailing document marker: %v", err)
	}
	_, err := Parse("two.yaml", []byte("a: 1\n---\nb: 2\n"), Limits{})
	var e *Error
	if !errors.As(err, &e) || e.Pos.Line != 3 || !strings.Contains(e.Msg, "more than one document") {
		t.Errorf("got %v", err)
	}
}

func TestSyntaxErrorsArePositioned(t *testing.T) {
	cases := map[string]Pos{
		"a: 1\nb: [\n":                  {Line: 2, Column: 1},
		"a: 1\nb: \x01\n":               {Line: 2, Column: 4},
		"a: ok\nb: \xff\xfe x\n":        {Line: 2, Column: 4},
		"x: &abc 1\na: *abc\nb: [*a]\n": {Line: 3, Column: 5},
	}
	for doc, want := range cases {
		_, err := Parse("s.yaml", []byte(doc), Limits{})
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: got %v", doc, err)
			continue
		}
		if e.Pos.Line != want.Line || (want.Column > 1 && e.Pos.Column != want.Column) {
			t.Errorf("%q: at %s, want %s (%v)", doc, e.Pos, want, err)
		}
	}
}

func TestSizeLimit(t *testing.T) {
	big := strings.Repeat("a", 101)
	if _, err := Parse("big.yaml", []byte(big), Limits{MaxBytes: 100}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "big.yaml") {
		t.Errorf("Parse: %v", err)
	}
	if _, err := ReadAll("big.yaml", strings.NewReader(big), 100); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "big.yaml: larger than 100 bytes") {
		t.Errorf("ReadAll: %v", err)
	}
	if b, err := ReadAll("ok.yaml", strings.NewReader(big), 101); err != nil || len(b) != 101 {
		t.Errorf("ReadAll at the limit: %d %v", len(b), err)
	}
}
