package spec

import (
	"strings"
	"testing"
)

const secretsSpec = `version: v1
deployment: app
services:
  web:
    image: busybox
    env:
      DB_PASSWORD: "$S:db-password"
      LITERAL: "$$S:not-a-secret"
      PLAIN: hello
    secrets:
      - name: tls-key
      - name: db-password
        target: /etc/app/db
        mode: 0440
        uid: 1000
`

func TestSecretsParse(t *testing.T) {
	d, err := Parse("s.yaml", []byte(secretsSpec))
	if err != nil {
		t.Fatal(err)
	}
	s := d.Services["web"]
	if got := strings.Join(s.SecretNames(), ","); got != "db-password,tls-key" {
		t.Fatalf("secret names %q", got)
	}
	if p, m := s.Secrets[0].Path(), s.Secrets[0].FileMode(); p != "/run/secrets/tls-key" || m != 0o400 {
		t.Fatalf("defaults: %s %o", p, m)
	}
	if p, m, u := s.Secrets[1].Path(), s.Secrets[1].FileMode(), s.Secrets[1].UID; p != "/etc/app/db" || m != 0o440 || u != 1000 {
		t.Fatalf("explicit: %s %o %d", p, m, u)
	}
	for v, want := range map[string][2]string{
		"$S:db-password": {"db-password", ""},
		"$$S:x":          {"", "$S:x"},
		"plain":          {"", "plain"},
	} {
		if n, l := EnvSecret(v); n != want[0] || l != want[1] {
			t.Errorf("EnvSecret(%q) = %q, %q", v, n, l)
		}
	}
}

func TestSecretsUnknownRefusedWithPosition(t *testing.T) {
	has := func(n string) bool { return n == "tls-key" }
	_, err := ParseWith("s.yaml", []byte(secretsSpec), ParseOptions{SecretExists: has})
	if err == nil {
		t.Fatal("a spec naming unknown secrets was accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`s.yaml:7:20: services.web.env.DB_PASSWORD: unknown secret "db-password"`,
		`s.yaml:12:15: services.web.secrets[1].name: unknown secret "db-password"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "tls-key") || strings.Contains(msg, "not-a-secret") {
		t.Errorf("existing or escaped secret reported:\n%s", msg)
	}
}

func TestSecretsShapeErrors(t *testing.T) {
	bad := `version: v1
deployment: app
services:
  web:
    image: busybox
    env: {X: "$S:Bad_Name"}
    secrets:
      - name: a
        target: /run/x
        mode: 400
      - name: b
        target: /run/x
      - target: /y
`
	_, err := Parse("b.yaml", []byte(bad))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`b.yaml:6:14: services.web.env.X: secret name:`,
		`b.yaml:10:15: services.web.secrets[0].mode: write the mode in octal`,
		`b.yaml:12:17: services.web.secrets[1].target: another secret is already mounted at /run/x`,
		`b.yaml:13:9: services.web.secrets[2].name: required`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func TestSecretVersionsInHash(t *testing.T) {
	d, err := Parse("s.yaml", []byte(secretsSpec))
	if err != nil {
		t.Fatal(err)
	}
	h0 := d.Hash()
	if !d.SetSecretVersions(map[string]int64{"db-password": 1, "tls-key": 1}) {
		t.Fatal("first versions not a change")
	}
	h1 := d.Hash()
	if d.SetSecretVersions(map[string]int64{"db-password": 1, "tls-key": 1, "unused": 9}) {
		t.Fatal("an unused secret's version changed the deployment")
	}
	if d.SetSecretVersions(map[string]int64{"db-password": 2, "tls-key": 1}); d.Hash() == h1 || h1 == h0 {
		t.Fatalf("hash did not follow versions: %s %s %s", h0, h1, d.Hash())
	}
	// A service without secrets hashes as it did before secrets existed.
	plain, err := Parse("p.yaml", []byte("version: v1\ndeployment: a\nservices:\n  w:\n    image: busybox\n"))
	if err != nil {
		t.Fatal(err)
	}
	before := plain.Services["w"].Hash()
	plain.SetSecretVersions(map[string]int64{"x": 3})
	if plain.Services["w"].Hash() != before || plain.Services["w"].SecretVersions != nil {
		t.Fatal("a service without secrets changed")
	}
}
