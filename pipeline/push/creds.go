package push

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// dockerConfig is the part of ~/.docker/config.json that holds credentials.
type dockerConfig struct {
	Auths map[string]struct {
		Auth     string `json:"auth"`
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"auths"`
	CredsStore  string            `json:"credsStore"`
	CredHelpers map[string]string `json:"credHelpers"`
}

func configPath() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker", "config.json")
}

// credentials answers the registry's auth challenge for host from the same
// Docker config buildx uses: inline auths, then credential helpers.
func credentials(host string) (string, string, error) {
	data, err := os.ReadFile(configPath())
	if err != nil {
		return "", "", nil
	}
	var cfg dockerConfig
	if json.Unmarshal(data, &cfg) != nil {
		return "", "", nil
	}
	keys := []string{host, "https://" + host, "http://" + host}
	if host == "registry-1.docker.io" || host == "docker.io" {
		keys = append(keys, "https://index.docker.io/v1/", "index.docker.io", "docker.io")
	}
	for _, k := range keys {
		if helper, ok := cfg.CredHelpers[k]; ok {
			return fromHelper(helper, k)
		}
	}
	for _, k := range keys {
		a, ok := cfg.Auths[k]
		if !ok {
			continue
		}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err == nil {
				u, p, _ := strings.Cut(string(raw), ":")
				return u, p, nil
			}
		}
		if a.Username != "" {
			return a.Username, a.Password, nil
		}
	}
	if cfg.CredsStore != "" {
		for _, k := range keys {
			if u, p, err := fromHelper(cfg.CredsStore, k); err == nil && u != "" {
				return u, p, nil
			}
		}
	}
	return "", "", nil
}

func fromHelper(helper, server string) (string, string, error) {
	cmd := exec.Command("docker-credential-"+helper, "get")
	cmd.Stdin = strings.NewReader(server)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return "", "", nil
	}
	var c struct{ Username, Secret string }
	if err := json.Unmarshal(out.Bytes(), &c); err != nil {
		return "", "", err
	}
	return c.Username, c.Secret, nil
}
