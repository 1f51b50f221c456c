package apiserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docsShell returns the shell commands of the fenced `sh` blocks in the section of
// docs/security.md whose heading starts with "## <section>", without the kubectl commands (there
// is no Secret to create: the files are handed to the receiver directly) and without the line
// that asks kubectl for CLUSTER_IP (the caller sets it).
func docsShell(t testing.TB, section string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "\n## "+section)
	if start < 0 {
		t.Fatalf("docs/security.md has no section %q", section)
	}
	body := doc[start+1:]
	if end := strings.Index(body[3:], "\n## "); end >= 0 {
		body = body[:end+3]
	}
	var script []string
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(body, -1) {
		skipping := false
		for _, line := range strings.Split(block[1], "\n") {
			trimmed := strings.TrimSpace(line)
			if !skipping && (strings.HasPrefix(trimmed, "kubectl") || strings.HasPrefix(trimmed, "CLUSTER_IP=$(kubectl")) {
				skipping = true
			}
			if skipping {
				skipping = strings.HasSuffix(trimmed, "\\")
				continue
			}
			script = append(script, line)
		}
	}
	if len(script) == 0 {
		t.Fatalf("docs/security.md section %q has no sh commands", section)
	}
	return strings.Join(script, "\n")
}

// pki holds the files docs/security.md has an operator make, in one directory.
type pki struct {
	dir string
}

func (p pki) file(name string) string { return filepath.Join(p.dir, name) }

// makePKI runs the openssl commands of docs/security.md sections 1 (CA and server certificate),
// 3 (the API server's client certificate) and 4 (the bearer token) with CLUSTER_IP set to
// clusterIP, exactly as written there.
func makePKI(t testing.TB, clusterIP string) pki {
	t.Helper()
	dir := t.TempDir()
	for _, section := range []string{"1. ", "3. ", "4. "} {
		script := docsShell(t, section)
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CLUSTER_IP="+clusterIP)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docs/security.md section %q failed: %v\n%s\nscript:\n%s", section, err, out, script)
		}
	}
	for _, f := range []string{"ca.crt", "tls.crt", "tls.key", "apiserver-client.crt", "apiserver-client.key", "kube-audit-token"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("docs/security.md did not make %s: %v", f, err)
		}
	}
	return pki{dir: dir}
}

// webhookMode is one of the webhook kubeconfig templates in deploy/apiserver/.
type webhookMode string

const (
	modeHTTP    webhookMode = "http"
	modeHTTPSCA webhookMode = "https-ca"
	modeMTLS    webhookMode = "mtls"
	modeToken   webhookMode = "token"
)

// renderKubeconfig fills deploy/apiserver/webhook-<mode>.kubeconfig.yaml in as
// docs/deploy.md section 6 tells an operator to: CLUSTER_IP replaced (here by loopback and the
// receiver's port) and the files under /etc/kubernetes/audit/ in place (here: the PKI directory,
// under the names the template and the guide use).
func renderKubeconfig(t testing.TB, mode webhookMode, hostPort string, p pki, out string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "apiserver", "webhook-"+string(mode)+".kubeconfig.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "CLUSTER_IP", hostPort)
	if p.dir != "" {
		// docs/deploy.md: sudo cp ca.crt /etc/kubernetes/audit/kube-audit-ca.crt
		link := func(from, to string) {
			_ = os.Remove(p.file(to))
			if err := os.Symlink(p.file(from), p.file(to)); err != nil {
				t.Fatal(err)
			}
		}
		link("ca.crt", "kube-audit-ca.crt")
		text = strings.ReplaceAll(text, "/etc/kubernetes/audit/", p.dir+"/")
	}
	if err := os.WriteFile(out, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
