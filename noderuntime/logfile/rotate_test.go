package logfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCopyTruncateKeepsBoundedFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.log")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := 0; i < 5; i++ {
		f.WriteString(strings.Repeat("a", 150) + "\n")
		if err := CopyTruncate(p, 100, 2); err != nil {
			t.Fatal(err)
		}
	}
	f.WriteString("after\n")
	if b, _ := os.ReadFile(p); string(b) != "after\n" {
		t.Fatalf("the writer's descriptor does not append at the start of the truncated file: %q", b)
	}
	for _, n := range []string{p + ".1", p + ".2"} {
		if st, err := os.Stat(n); err != nil || st.Size() != 151 {
			t.Fatalf("%s: %v %v", n, st, err)
		}
	}
	if _, err := os.Stat(p + ".3"); err == nil {
		t.Fatal("kept too many")
	}
}
