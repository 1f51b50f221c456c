package apiserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeKubeconfig writes a kubeconfig for kubectl from the API server's client config.
func writeKubeconfig(t testing.TB, cfg *rest.Config, path string) {
	t.Helper()
	c := clientcmdapi.NewConfig()
	c.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData, TLSServerName: cfg.ServerName}
	c.AuthInfos["test"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken, ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	c.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	c.CurrentContext = "test"
	if err := clientcmd.WriteToFile(*c, path); err != nil {
		t.Fatal(err)
	}
}

// kubectl runs kubectl against the API server.
func kubectl(t testing.TB, kubeconfig string, args ...string) string {
	t.Helper()
	cmd := exec.Command(kubectlPath, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// auditIDs makes client-go send an Audit-ID header of its own on every request: prefix-0001,
// prefix-0002, … The API server takes a client's Audit-ID as the event's auditID
// (k8s.io/apiserver/pkg/endpoints/filters/audit_init.go, withAuditInit), so the same workload
// run against two API servers yields the same IDs, request by request.
type auditIDs struct {
	prefix string
	n      *atomic.Int64
	next   http.RoundTripper
}

// withAuditIDs returns a copy of cfg whose requests carry Audit-IDs from the shared counter n.
func withAuditIDs(cfg *rest.Config, prefix string, n *atomic.Int64) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &auditIDs{prefix: prefix, n: n, next: rt} })
	return cfg
}

func (a *auditIDs) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Audit-ID", a.prefix+"-"+leftPad(a.n.Add(1)))
	return a.next.RoundTrip(r)
}

func leftPad(n int64) string { return fmt.Sprintf("%04d", n) }

// workloadResult is what a workload created that the checks need.
type workloadResult struct {
	// secrets are values of Secrets and tokens that redaction must keep off the receiver's stdout.
	secrets []string
}

// workloadOptions shape the workload.
type workloadOptions struct {
	namespace string
	// kubectl also applies deploy/ with kubectl (server-side, -f and -k, and the mTLS overlay).
	kubectl bool
	// bigConfigMaps adds ConfigMaps near the size limits (1 MiB of data is accepted, 1.5 MiB
	// refused by validation, its body still audited).
	bigConfigMaps bool
}

// runWorkload drives the API server with client-go as a cluster's users and controllers would.
func runWorkload(t testing.TB, cfg *rest.Config, dir string, o workloadOptions) workloadResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(cfg)
	ns := o.namespace
	var res workloadResult
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// A namespace labelled for Pod Security "restricted", like deploy/00-namespace.yaml.
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}, metav1.CreateOptions{})
	must(err, "create namespace")

	// Secrets with data: create (data and stringData), read, update, list, delete.
	plain, other := "s3cret-"+randomHex(8), "p4ss-"+randomHex(8)
	res.secrets = append(res.secrets, plain, base64.StdEncoding.EncodeToString([]byte(plain)), other, base64.StdEncoding.EncodeToString([]byte(other)))
	_, err = cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Data: map[string][]byte{"password": []byte(plain)}, StringData: map[string]string{"user": other}}, metav1.CreateOptions{})
	must(err, "create secret")
	s, err := cs.CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{})
	must(err, "get secret")
	s.Data["extra"] = []byte(plain)
	_, err = cs.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{})
	must(err, "update secret")
	_, err = cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	must(err, "list secrets")
	must(cs.CoreV1().Secrets(ns).Delete(ctx, "db", metav1.DeleteOptions{}), "delete secret")

	// ConfigMaps: small, and near the limits.
	_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"mode": "on"}}, metav1.CreateOptions{})
	must(err, "create configmap")
	if o.bigConfigMaps {
		// Validation allows 1 MiB of data (k8s.io/kubernetes/pkg/apis/core/validation:
		// ValidateConfigMap, corev1.MaxSecretSize); the request body limit is 3 MB and etcd's 1.5 MiB.
		big := strings.Repeat("x", 1024*1024-16)
		_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "big"}, Data: map[string]string{"blob": big}}, metav1.CreateOptions{})
		must(err, "create 1 MiB configmap")
		huge := strings.Repeat("y", 1536*1024-64)
		_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "too-big"}, Data: map[string]string{"blob": huge}}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) && !apierrors.IsRequestEntityTooLargeError(err) {
			t.Fatalf("a 1.5 MiB ConfigMap: want 422 or 413, got %v", err)
		}
	}

	// RBAC: a Role, a RoleBinding, a ClusterRole.
	_, err = cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{})
	must(err, "create role")
	_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "reader"}, RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"}, Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "app", Namespace: ns}}}, metav1.CreateOptions{})
	must(err, "create rolebinding")
	_, err = cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns + "-viewer"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{})
	must(err, "create clusterrole")

	// TokenRequest for a ServiceAccount, then TokenReview of that token, then a request with it
	// (the Role allows reading ConfigMaps, not Secrets: one allowed, one forbidden).
	_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{})
	must(err, "create serviceaccount")
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "app", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	must(err, "create token")
	token := tr.Status.Token
	res.secrets = append(res.secrets, token)
	// The JWT's signature is its third part: it alone must never be on stdout.
	if parts := strings.Split(token, "."); len(parts) == 3 {
		res.secrets = append(res.secrets, parts[2])
	}
	review, err := cs.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	must(err, "token review")
	if !review.Status.Authenticated {
		t.Fatalf("token review: not authenticated: %s", review.Status.Error)
	}
	saCfg := rest.AnonymousClientConfig(cfg)
	saCfg.BearerToken = token
	saClient := kubernetes.NewForConfigOrDie(saCfg)
	_, err = saClient.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
	must(err, "get configmap as the service account")
	if _, err = saClient.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list secrets as the service account: want forbidden, got %v", err)
	}

	// Forbidden through impersonation, and not found.
	imp := rest.CopyConfig(cfg)
	imp.Impersonate = rest.ImpersonationConfig{UserName: "alice", Groups: []string{"developers"}}
	if _, err = kubernetes.NewForConfigOrDie(imp).CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("get secret as alice: want forbidden, got %v", err)
	}
	if _, err = cs.CoreV1().ConfigMaps(ns).Get(ctx, "does-not-exist", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get missing configmap: want not found, got %v", err)
	}

	// list and watch: a watch that sees one change and ends on its server-side timeout.
	list, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	must(err, "list configmaps")
	w, err := cs.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, TimeoutSeconds: ptr.To[int64](2)})
	must(err, "watch configmaps")
	_, err = cs.CoreV1().ConfigMaps(ns).Patch(ctx, "settings", "application/merge-patch+json", []byte(`{"data":{"mode":"off"}}`), metav1.PatchOptions{})
	must(err, "patch configmap")
	seen := 0
	for range w.ResultChan() {
		seen++
	}
	if seen == 0 {
		t.Fatal("watch ended without an event")
	}
	must(cs.CoreV1().ConfigMaps(ns).Delete(ctx, "settings", metav1.DeleteOptions{}), "delete configmap")

	if o.kubectl {
		kubectlWorkload(t, cfg, dir, ns, &res)
	}
	return res
}

// kubectlWorkload applies the repository's manifests as docs/deploy.md tells operators to,
// with real admission (Pod Security "restricted" on the kube-audit namespace included). No
// controller-manager or kubelet runs here, so Deployments get no pods; applies that would
// replace the first are made with --dry-run=server.
func kubectlWorkload(t testing.TB, cfg *rest.Config, dir, ns string, res *workloadResult) {
	t.Helper()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	writeKubeconfig(t, cfg, kubeconfig)
	root := repoRoot(t)
	kubectl(t, kubeconfig, "apply", "--server-side", "-f", filepath.Join(root, "deploy"))
	kubectl(t, kubeconfig, "apply", "--server-side", "--dry-run=server", "-k", filepath.Join(root, "deploy"))
	// deploy/mtls is a kustomize Component, used from an overlay as docs/security.md shows.
	overlay := filepath.Join(dir, "my-cluster")
	must(t, os.MkdirAll(overlay, 0o755))
	rel, err := filepath.Rel(overlay, root)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - "+rel+"/deploy\ncomponents:\n  - "+rel+"/deploy/mtls\n"), 0o644))
	kubectl(t, kubeconfig, "apply", "--server-side", "--dry-run=server", "-k", overlay)
	// A Secret applied client-side carries its data again in the last-applied-configuration
	// annotation; then kubectl reads Secrets and ConfigMaps as a person would.
	value := "k8s-" + randomHex(8)
	res.secrets = append(res.secrets, value, base64.StdEncoding.EncodeToString([]byte(value)))
	manifest := filepath.Join(dir, "secret.yaml")
	must(t, os.WriteFile(manifest, []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: applied\n  namespace: "+ns+"\nstringData:\n  key: "+value+"\n"), 0o600))
	kubectl(t, kubeconfig, "apply", "-f", manifest)
	kubectl(t, kubeconfig, "-n", ns, "get", "configmaps")
	kubectl(t, kubeconfig, "-n", "kube-audit", "get", "deployment", "kube-audit", "-o", "yaml")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
