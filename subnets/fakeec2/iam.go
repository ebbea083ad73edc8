package fakeec2

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
)

// The IAM Query API (https://iam.amazonaws.com/doc/2010-05-08/): the calls that find the role
// aws-node uses and what it may do, in the shapes of the IAM API reference (each answer wraps
// its result in <ActionResult>, lists use <member>, errors come in <ErrorResponse>).

const iamXMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"

// Account is the account id of every ARN the server makes.
const Account = "111122223333"

// InstanceProfile is an IAM instance profile; Roles are role names.
type InstanceProfile struct {
	Name, Path string // Path "" means "/"
	Roles      []string
}

// ARN is the instance profile's ARN.
func (p InstanceProfile) ARN() string { return iamARN("instance-profile", p.Path, p.Name) }

// Role is an IAM role. The fake does not evaluate policy documents: Decisions says what
// SimulatePrincipalPolicy answers per action ("allowed", "explicitDeny"; every other action
// is "implicitDeny", as for a role with no policy that allows it).
type Role struct {
	Name, Path string // Path "" means "/"
	// AttachedPolicies are the ARNs of its managed policies; InlinePolicies the names of its
	// inline ones.
	AttachedPolicies []string
	InlinePolicies   []string
	// PermissionsBoundary is the ARN of its permissions boundary policy, "" for none.
	PermissionsBoundary string
	Decisions           map[string]string
}

// ARN is the role's ARN.
func (r Role) ARN() string { return iamARN("role", r.Path, r.Name) }

func iamARN(kind, p, name string) string {
	if p == "" {
		p = "/"
	}
	return "arn:aws:iam::" + Account + ":" + kind + p + name
}

func pathOrRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

type iamResponseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type iamRole struct {
	Path        string       `xml:"Path"`
	RoleName    string       `xml:"RoleName"`
	RoleID      string       `xml:"RoleId"`
	ARN         string       `xml:"Arn"`
	CreateDate  string       `xml:"CreateDate"`
	TrustPolicy string       `xml:"AssumeRolePolicyDocument"`
	MaxSession  int          `xml:"MaxSessionDuration"`
	Boundary    *iamBoundary `xml:"PermissionsBoundary,omitempty"`
}

type iamBoundary struct {
	Type string `xml:"PermissionsBoundaryType"`
	ARN  string `xml:"PermissionsBoundaryArn"`
}

func (r Role) xml() iamRole {
	x := iamRole{Path: pathOrRoot(r.Path), RoleName: r.Name, RoleID: "AROAFAKE" + strings.ToUpper(r.Name), ARN: r.ARN(),
		CreateDate: "2026-01-05T10:00:00Z", MaxSession: 3600,
		TrustPolicy: url.QueryEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)}
	if r.PermissionsBoundary != "" {
		x.Boundary = &iamBoundary{Type: "Policy", ARN: r.PermissionsBoundary}
	}
	return x
}

type getRoleResponse struct {
	XMLName  xml.Name            `xml:"GetRoleResponse"`
	Xmlns    string              `xml:"xmlns,attr"`
	Role     iamRole             `xml:"GetRoleResult>Role"`
	Metadata iamResponseMetadata `xml:"ResponseMetadata"`
}

type getInstanceProfileResponse struct {
	XMLName  xml.Name            `xml:"GetInstanceProfileResponse"`
	Xmlns    string              `xml:"xmlns,attr"`
	Profile  iamInstanceProfile  `xml:"GetInstanceProfileResult>InstanceProfile"`
	Metadata iamResponseMetadata `xml:"ResponseMetadata"`
}

type iamInstanceProfile struct {
	Path       string    `xml:"Path"`
	Name       string    `xml:"InstanceProfileName"`
	ID         string    `xml:"InstanceProfileId"`
	ARN        string    `xml:"Arn"`
	CreateDate string    `xml:"CreateDate"`
	Roles      []iamRole `xml:"Roles>member"`
}

type iamAttachedPolicy struct {
	Name string `xml:"PolicyName"`
	ARN  string `xml:"PolicyArn"`
}

type listAttachedRolePoliciesResponse struct {
	XMLName   xml.Name            `xml:"ListAttachedRolePoliciesResponse"`
	Xmlns     string              `xml:"xmlns,attr"`
	Policies  []iamAttachedPolicy `xml:"ListAttachedRolePoliciesResult>AttachedPolicies>member"`
	Truncated bool                `xml:"ListAttachedRolePoliciesResult>IsTruncated"`
	Metadata  iamResponseMetadata `xml:"ResponseMetadata"`
}

type listRolePoliciesResponse struct {
	XMLName   xml.Name            `xml:"ListRolePoliciesResponse"`
	Xmlns     string              `xml:"xmlns,attr"`
	Names     []string            `xml:"ListRolePoliciesResult>PolicyNames>member"`
	Truncated bool                `xml:"ListRolePoliciesResult>IsTruncated"`
	Metadata  iamResponseMetadata `xml:"ResponseMetadata"`
}

type iamEvaluationResult struct {
	Action   string `xml:"EvalActionName"`
	Resource string `xml:"EvalResourceName"`
	Decision string `xml:"EvalDecision"`
}

type simulatePrincipalPolicyResponse struct {
	XMLName   xml.Name              `xml:"SimulatePrincipalPolicyResponse"`
	Xmlns     string                `xml:"xmlns,attr"`
	Results   []iamEvaluationResult `xml:"SimulatePrincipalPolicyResult>EvaluationResults>member"`
	Truncated bool                  `xml:"SimulatePrincipalPolicyResult>IsTruncated"`
	Metadata  iamResponseMetadata   `xml:"ResponseMetadata"`
}

func (s *Server) serveIAM(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		writeIAMError(w, apiError{http.StatusBadRequest, "InvalidRequest", "expected a form-encoded POST"})
		return
	}
	form := r.PostForm
	action := form.Get("Action")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[action]++
	s.requests = append(s.requests, form)
	if v := form.Get("Version"); v != "2010-05-08" {
		writeIAMError(w, apiError{http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version %s", action, v)})
		return
	}
	meta := iamResponseMetadata{RequestID: "req-iam-" + strings.ToLower(action)}
	var body any
	var aerr *apiError
	switch action {
	case "GetInstanceProfile":
		name := form.Get("InstanceProfileName")
		i := slices.IndexFunc(s.InstanceProfiles, func(p InstanceProfile) bool { return p.Name == name })
		if i < 0 {
			aerr = noSuchEntity("Instance Profile", name)
			break
		}
		p := s.InstanceProfiles[i]
		x := iamInstanceProfile{Path: pathOrRoot(p.Path), Name: p.Name, ID: "AIPAFAKE" + strings.ToUpper(p.Name), ARN: p.ARN(),
			CreateDate: "2026-01-05T10:00:00Z", Roles: []iamRole{}}
		for _, rn := range p.Roles {
			if role, ok := s.role(rn); ok {
				x.Roles = append(x.Roles, role.xml())
			}
		}
		body = getInstanceProfileResponse{Xmlns: iamXMLNS, Profile: x, Metadata: meta}
	case "GetRole":
		role, ok := s.role(form.Get("RoleName"))
		if !ok {
			aerr = noSuchEntity("role", form.Get("RoleName"))
			break
		}
		body = getRoleResponse{Xmlns: iamXMLNS, Role: role.xml(), Metadata: meta}
	case "ListAttachedRolePolicies":
		role, ok := s.role(form.Get("RoleName"))
		if !ok {
			aerr = noSuchEntity("role", form.Get("RoleName"))
			break
		}
		resp := listAttachedRolePoliciesResponse{Xmlns: iamXMLNS, Policies: []iamAttachedPolicy{}, Metadata: meta}
		for _, arn := range role.AttachedPolicies {
			resp.Policies = append(resp.Policies, iamAttachedPolicy{Name: path.Base(arn), ARN: arn})
		}
		body = resp
	case "ListRolePolicies":
		role, ok := s.role(form.Get("RoleName"))
		if !ok {
			aerr = noSuchEntity("role", form.Get("RoleName"))
			break
		}
		body = listRolePoliciesResponse{Xmlns: iamXMLNS, Names: append([]string{}, role.InlinePolicies...), Metadata: meta}
	case "SimulatePrincipalPolicy":
		body, aerr = s.simulatePrincipalPolicy(form, meta)
	default:
		aerr = &apiError{http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version 2010-05-08", action)}
	}
	if aerr != nil {
		writeIAMError(w, *aerr)
		return
	}
	writeXML(w, body)
}

func (s *Server) role(name string) (Role, bool) {
	i := slices.IndexFunc(s.Roles, func(r Role) bool { return r.Name == name })
	if i < 0 {
		return Role{}, false
	}
	return s.Roles[i], true
}

func (s *Server) simulatePrincipalPolicy(form url.Values, meta iamResponseMetadata) (any, *apiError) {
	arn := form.Get("PolicySourceArn")
	if arn == "" {
		return nil, &apiError{http.StatusBadRequest, "ValidationError", "1 validation error detected: Value null at 'policySourceArn' failed to satisfy constraint: Member must not be null"}
	}
	i := slices.IndexFunc(s.Roles, func(r Role) bool { return r.ARN() == arn })
	if i < 0 {
		if !strings.HasPrefix(arn, "arn:aws:iam::") {
			return nil, &apiError{http.StatusBadRequest, "InvalidInput", fmt.Sprintf("Invalid ARN: %s", arn)}
		}
		return nil, &apiError{http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The entity %s does not exist.", arn)}
	}
	actions := list(form, "ActionNames.member")
	if len(actions) == 0 {
		return nil, &apiError{http.StatusBadRequest, "ValidationError", "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null"}
	}
	resp := simulatePrincipalPolicyResponse{Xmlns: iamXMLNS, Results: []iamEvaluationResult{}, Metadata: meta}
	for _, a := range actions {
		d := s.Roles[i].Decisions[a]
		if d == "" {
			d = "implicitDeny"
		}
		resp.Results = append(resp.Results, iamEvaluationResult{Action: a, Resource: "*", Decision: d})
	}
	return resp, nil
}

func noSuchEntity(kind, name string) *apiError {
	return &apiError{http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The %s with name %s cannot be found.", kind, name)}
}

func writeIAMError(w http.ResponseWriter, e apiError) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	_, _ = fmt.Fprintf(w, "<ErrorResponse xmlns=%q><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>fake-%s</RequestId></ErrorResponse>",
		iamXMLNS, e.code, xmlEscape(e.message), strings.ToLower(e.code))
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// writeXML writes a successful Query API answer.
func writeXML(w http.ResponseWriter, body any) {
	out, err := xml.Marshal(body)
	if err != nil {
		writeError(w, apiError{http.StatusInternalServerError, "InternalError", err.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}
