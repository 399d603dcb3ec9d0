-- A database made by entitled's auto-migration before versioned migrations
-- (commit 728ba33: ent Schema.Create with WithDropIndex), with a few rows
-- made through the API, dumped with pg_dump --inserts --no-owner. Admin key of org acme:
-- etk_d75srnr7qauanl3bisfvttroylh3cou5d2a5eme6  CHECK key: etk_womy7kndan6xyzs2thskpys2mmyt5b5dqo2u6xvq
--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: api_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_keys (
    id character varying NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    name character varying NOT NULL,
    prefix character varying NOT NULL,
    secret_hash character varying NOT NULL,
    scopes jsonb NOT NULL,
    expires_at timestamp with time zone,
    revoked_at timestamp with time zone,
    organization_id character varying NOT NULL
);


--
-- Name: entitlements; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.entitlements (
    id character varying NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    name character varying NOT NULL,
    slug character varying NOT NULL,
    description character varying DEFAULT ''::character varying NOT NULL,
    type character varying NOT NULL,
    meter_type character varying,
    aggregation_method character varying,
    reset_period character varying,
    organization_id character varying NOT NULL
);


--
-- Name: instances; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.instances (
    id character varying NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    name character varying NOT NULL,
    slug character varying NOT NULL,
    starts_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone,
    metadata jsonb,
    organization_id character varying NOT NULL,
    license_id character varying
);


--
-- Name: license_entitlements; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.license_entitlements (
    id character varying NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    value jsonb NOT NULL,
    overage_percent double precision,
    entitlement_id character varying NOT NULL,
    license_id character varying NOT NULL,
    organization_id character varying NOT NULL
);


--
-- Name: license_versions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.license_versions (
    id character varying NOT NULL,
    version bigint NOT NULL,
    license_type character varying NOT NULL,
    is_active boolean NOT NULL,
    terms jsonb NOT NULL,
    change character varying DEFAULT ''::character varying NOT NULL,
    created_at timestamp with time zone NOT NULL,
    license_id character varying NOT NULL,
    organization_id character varying NOT NULL
);


--
-- Name: licenses; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.licenses (
    id character varying NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    name character varying NOT NULL,
    slug character varying NOT NULL,
    type character varying NOT NULL,
    version bigint DEFAULT 1 NOT NULL,
    version_name character varying,
    is_active boolean DEFAULT true NOT NULL,
    is_default boolean DEFAULT false NOT NULL,
    description character varying DEFAULT ''::character varying NOT NULL,
    organization_id character varying NOT NULL
);


--
-- Name: org_policies; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.org_policies (
    id character varying NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    name character varying NOT NULL,
    module text NOT NULL,
    tests text DEFAULT ''::text,
    version bigint DEFAULT 1 NOT NULL,
    active boolean DEFAULT false NOT NULL,
    last_test_result jsonb,
    organization_id character varying NOT NULL
);


--
-- Name: organizations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.organizations (
    id character varying NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    name character varying NOT NULL,
    slug character varying NOT NULL,
    policy_version bigint DEFAULT 0 NOT NULL
);


--
-- Name: policy_revisions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.policy_revisions (
    id character varying NOT NULL,
    version bigint NOT NULL,
    module text NOT NULL,
    active boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    policy_id character varying NOT NULL,
    organization_id character varying NOT NULL
);


--
-- Name: threshold_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.threshold_events (
    id character varying NOT NULL,
    kind character varying NOT NULL,
    period_start timestamp with time zone NOT NULL,
    usage double precision NOT NULL,
    "limit" double precision NOT NULL,
    hard_cap double precision NOT NULL,
    created_at timestamp with time zone NOT NULL,
    entitlement_id character varying NOT NULL,
    instance_id character varying NOT NULL,
    organization_id character varying NOT NULL
);


--
-- Name: usage_counters; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.usage_counters (
    id character varying NOT NULL,
    period_start timestamp with time zone NOT NULL,
    count bigint DEFAULT 0 NOT NULL,
    sum double precision DEFAULT 0 NOT NULL,
    min double precision,
    max double precision,
    latest double precision,
    latest_at timestamp with time zone,
    updated_at timestamp with time zone NOT NULL,
    entitlement_id character varying NOT NULL,
    instance_id character varying NOT NULL,
    organization_id character varying NOT NULL
);


--
-- Name: usage_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.usage_events (
    id character varying NOT NULL,
    kind character varying NOT NULL,
    value double precision NOT NULL,
    "timestamp" timestamp with time zone NOT NULL,
    period_start timestamp with time zone NOT NULL,
    recorded_at timestamp with time zone NOT NULL,
    idempotency_key character varying NOT NULL,
    request_hash character varying NOT NULL,
    aggregate double precision NOT NULL,
    result jsonb,
    entitlement_id character varying NOT NULL,
    instance_id character varying NOT NULL,
    organization_id character varying NOT NULL
);


--
-- Data for Name: api_keys; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.api_keys VALUES ('key_01M8STPG8QRR740A5Y98614WJ6', '2026-12-01 22:13:11.063996+00', '2026-12-01 22:13:11.063996+00', 'initial admin key', 'etk_d75srn', 'e22a291077c1b47174e81286b290189e0d888876da0a852ac508f26b1eb4f9bf', '["ADMIN"]', NULL, NULL, 'org_01M8STPG8QRR740A5Y94MN99FK');
INSERT INTO public.api_keys VALUES ('key_01M8STPGA3EXH8PHTAGXJD3RX8', '2026-12-01 22:13:11.107893+00', '2026-12-01 22:13:11.107894+00', 'key CHECK', 'etk_womy7k', '784747ebe64ecb6f2b62e1c39c2b32889c83edbded4006f260c7e845517d4d3f', '["CHECK"]', NULL, NULL, 'org_01M8STPG8QRR740A5Y94MN99FK');


--
-- Data for Name: entitlements; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.entitlements VALUES ('ent_01M8STPG8TPH997NCY6Y68EQXV', '2026-12-01 22:13:11.066743+00', '2026-12-01 22:13:11.066743+00', 'API calls', 'api-calls', '', 'NUMBER', 'RAW_EVENT', 'SUM', 'MONTH', 'org_01M8STPG8QRR740A5Y94MN99FK');
INSERT INTO public.entitlements VALUES ('ent_01M8STPG8WCVVJ375Z7E1PAZ36', '2026-12-01 22:13:11.068263+00', '2026-12-01 22:13:11.068264+00', 'SSO', 'sso', '', 'BOOLEAN', NULL, NULL, NULL, 'org_01M8STPG8QRR740A5Y94MN99FK');


--
-- Data for Name: instances; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.instances VALUES ('ins_01M8STPG9CCCRT7HN0E19TNYAV', '2026-12-01 22:13:11.084902+00', '2026-12-01 22:13:11.084902+00', 'EU production', 'eu-prod-1', '2026-12-01 22:13:11.084897+00', NULL, '{"region": "eu"}', 'org_01M8STPG8QRR740A5Y94MN99FK', 'lic_01M8STPG8XVNMG2DH5SZZ04XJC');


--
-- Data for Name: license_entitlements; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.license_entitlements VALUES ('le_01M8STPG91M7WKVF9EZT5GGPQT', '2026-12-01 22:13:11.073986+00', '2026-12-01 22:13:11.073986+00', '{"type": "number", "value": 1000}', 10, 'ent_01M8STPG8TPH997NCY6Y68EQXV', 'lic_01M8STPG8XVNMG2DH5SZZ04XJC', 'org_01M8STPG8QRR740A5Y94MN99FK');
INSERT INTO public.license_entitlements VALUES ('le_01M8STPG99NAMST173JYDJNMC4', '2026-12-01 22:13:11.081662+00', '2026-12-01 22:13:11.081662+00', '{"type": "boolean", "value": true}', NULL, 'ent_01M8STPG8WCVVJ375Z7E1PAZ36', 'lic_01M8STPG8XVNMG2DH5SZZ04XJC', 'org_01M8STPG8QRR740A5Y94MN99FK');


--
-- Data for Name: license_versions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.license_versions VALUES ('lv_01M8STPG8YC281YX54H5K6GNCF', 1, 'PAID', true, '[]', 'created', '2026-12-01 22:13:11.070638+00', 'lic_01M8STPG8XVNMG2DH5SZZ04XJC', 'org_01M8STPG8QRR740A5Y94MN99FK');
INSERT INTO public.license_versions VALUES ('lv_01M8STPG94FWP6TSE9QQRRTRH4', 2, 'PAID', true, '[{"value": {"type": "number", "value": 1000}, "entitlementID": "ent_01M8STPG8TPH997NCY6Y68EQXV", "overagePercent": 10, "entitlementSlug": "api-calls", "entitlementType": "NUMBER"}]', 'added api-calls = 1000 (+10% overage)', '2026-12-01 22:13:11.076112+00', 'lic_01M8STPG8XVNMG2DH5SZZ04XJC', 'org_01M8STPG8QRR740A5Y94MN99FK');
INSERT INTO public.license_versions VALUES ('lv_01M8STPG9AE0MJ6N6WX71092EJ', 3, 'PAID', true, '[{"value": {"type": "number", "value": 1000}, "entitlementID": "ent_01M8STPG8TPH997NCY6Y68EQXV", "overagePercent": 10, "entitlementSlug": "api-calls", "entitlementType": "NUMBER"}, {"value": {"type": "boolean", "value": true}, "entitlementID": "ent_01M8STPG8WCVVJ375Z7E1PAZ36", "entitlementSlug": "sso", "entitlementType": "BOOLEAN"}]', 'added sso = true', '2026-12-01 22:13:11.082805+00', 'lic_01M8STPG8XVNMG2DH5SZZ04XJC', 'org_01M8STPG8QRR740A5Y94MN99FK');


--
-- Data for Name: licenses; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.licenses VALUES ('lic_01M8STPG8XVNMG2DH5SZZ04XJC', '2026-12-01 22:13:11.069866+00', '2026-12-01 22:13:11.08191+00', 'Enterprise', 'enterprise', 'PAID', 3, NULL, true, true, '', 'org_01M8STPG8QRR740A5Y94MN99FK');


--
-- Data for Name: org_policies; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.org_policies VALUES ('pol_01M8STPGA17KXFP1ZP2CE5V2DT', '2026-12-01 22:13:11.105057+00', '2026-12-01 22:13:11.105057+00', 'no-cn', 'package entitled.custom.nocn

import rego.v1

deny contains "no CN" if input.request.context.country == "CN"
', '', 1, true, '{"failed": 0, "passed": 0, "results": null}', 'org_01M8STPG8QRR740A5Y94MN99FK');


--
-- Data for Name: organizations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.organizations VALUES ('org_01M8STPG8QRR740A5Y94MN99FK', '2026-12-01 22:13:11.063449+00', '2026-12-01 22:13:11.106321+00', 'ACME', 'acme', 1);


--
-- Data for Name: policy_revisions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.policy_revisions VALUES ('pr_01M8STPGA17KXFP1ZP2DKVRKG4', 1, 'package entitled.custom.nocn

import rego.v1

deny contains "no CN" if input.request.context.country == "CN"
', true, '2026-12-01 22:13:11.105769+00', 'pol_01M8STPGA17KXFP1ZP2CE5V2DT', 'org_01M8STPG8QRR740A5Y94MN99FK');


--
-- Data for Name: threshold_events; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: usage_counters; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.usage_counters VALUES ('uc_01M8STPG9FFK12ET6CQFF06FRY', '2026-12-01 00:00:00+00', 2, 123, 3, 120, 3, '2026-12-01 22:13:11.089993+00', '2026-12-01 22:13:11.090101+00', 'ent_01M8STPG8TPH997NCY6Y68EQXV', 'ins_01M8STPG9CCCRT7HN0E19TNYAV', 'org_01M8STPG8QRR740A5Y94MN99FK');


--
-- Data for Name: usage_events; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.usage_events VALUES ('ue_01M8STPG9FFK12ET6CQDBS2ZW0', 'REPORT', 120, '2026-12-01 22:13:11.08772+00', '2026-12-01 00:00:00+00', '2026-12-01 22:13:11.088482+00', 'evt-1', '34c1ad04dba6ca110a12e6853ad3dfac587e3eead14f9f1e071f73b538e93f37', 120, '{"count": 1, "value": 120, "periodEnd": "2027-01-01T00:00:00Z", "periodStart": "2026-12-01T00:00:00Z", "hardCapExceeded": false, "softLimitExceeded": false}', 'ent_01M8STPG8TPH997NCY6Y68EQXV', 'ins_01M8STPG9CCCRT7HN0E19TNYAV', 'org_01M8STPG8QRR740A5Y94MN99FK');
INSERT INTO public.usage_events VALUES ('ue_01M8STPG9H69C333953RF9H1SX', 'REPORT', 3, '2026-12-01 22:13:11.089993+00', '2026-12-01 00:00:00+00', '2026-12-01 22:13:11.090479+00', 'evt-2', '00dfe4f2130ed1f5050afb68ad2dc78cc24e9be64d57ad39dedc4a911e35810f', 123, '{"count": 2, "value": 123, "periodEnd": "2027-01-01T00:00:00Z", "periodStart": "2026-12-01T00:00:00Z", "hardCapExceeded": false, "softLimitExceeded": false}', 'ent_01M8STPG8TPH997NCY6Y68EQXV', 'ins_01M8STPG9CCCRT7HN0E19TNYAV', 'org_01M8STPG8QRR740A5Y94MN99FK');


--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);


--
-- Name: entitlements entitlements_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.entitlements
    ADD CONSTRAINT entitlements_pkey PRIMARY KEY (id);


--
-- Name: instances instances_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.instances
    ADD CONSTRAINT instances_pkey PRIMARY KEY (id);


--
-- Name: license_entitlements license_entitlements_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.license_entitlements
    ADD CONSTRAINT license_entitlements_pkey PRIMARY KEY (id);


--
-- Name: license_versions license_versions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.license_versions
    ADD CONSTRAINT license_versions_pkey PRIMARY KEY (id);


--
-- Name: licenses licenses_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.licenses
    ADD CONSTRAINT licenses_pkey PRIMARY KEY (id);


--
-- Name: org_policies org_policies_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.org_policies
    ADD CONSTRAINT org_policies_pkey PRIMARY KEY (id);


--
-- Name: organizations organizations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.organizations
    ADD CONSTRAINT organizations_pkey PRIMARY KEY (id);


--
-- Name: policy_revisions policy_revisions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.policy_revisions
    ADD CONSTRAINT policy_revisions_pkey PRIMARY KEY (id);


--
-- Name: threshold_events threshold_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.threshold_events
    ADD CONSTRAINT threshold_events_pkey PRIMARY KEY (id);


--
-- Name: usage_counters usage_counters_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.usage_counters
    ADD CONSTRAINT usage_counters_pkey PRIMARY KEY (id);


--
-- Name: usage_events usage_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.usage_events
    ADD CONSTRAINT usage_events_pkey PRIMARY KEY (id);


--
-- Name: api_keys_secret_hash_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX api_keys_secret_hash_key ON public.api_keys USING btree (secret_hash);


--
-- Name: entitlement_organization_id_slug; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX entitlement_organization_id_slug ON public.entitlements USING btree (organization_id, slug);


--
-- Name: instance_license_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX instance_license_id ON public.instances USING btree (license_id);


--
-- Name: instance_organization_id_slug; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX instance_organization_id_slug ON public.instances USING btree (organization_id, slug);


--
-- Name: license_one_default_per_org; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX license_one_default_per_org ON public.licenses USING btree (organization_id) WHERE is_default;


--
-- Name: license_organization_id_slug; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX license_organization_id_slug ON public.licenses USING btree (organization_id, slug);


--
-- Name: licenseentitlement_license_id_entitlement_id; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX licenseentitlement_license_id_entitlement_id ON public.license_entitlements USING btree (license_id, entitlement_id);


--
-- Name: licenseversion_license_id_version; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX licenseversion_license_id_version ON public.license_versions USING btree (license_id, version);


--
-- Name: organizations_slug_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX organizations_slug_key ON public.organizations USING btree (slug);


--
-- Name: orgpolicy_organization_id_name; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX orgpolicy_organization_id_name ON public.org_policies USING btree (organization_id, name);


--
-- Name: policyrevision_policy_id_version; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX policyrevision_policy_id_version ON public.policy_revisions USING btree (policy_id, version);


--
-- Name: thresholdevent_instance_id_entitlement_id_period_start_kind; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX thresholdevent_instance_id_entitlement_id_period_start_kind ON public.threshold_events USING btree (instance_id, entitlement_id, period_start, kind);


--
-- Name: thresholdevent_organization_id_created_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX thresholdevent_organization_id_created_at ON public.threshold_events USING btree (organization_id, created_at);


--
-- Name: usagecounter_instance_id_entitlement_id_period_start; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX usagecounter_instance_id_entitlement_id_period_start ON public.usage_counters USING btree (instance_id, entitlement_id, period_start);


--
-- Name: usageevent_instance_id_entitlement_id_timestamp; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX usageevent_instance_id_entitlement_id_timestamp ON public.usage_events USING btree (instance_id, entitlement_id, "timestamp");


--
-- Name: usageevent_organization_id_idempotency_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX usageevent_organization_id_idempotency_key ON public.usage_events USING btree (organization_id, idempotency_key);


--
-- Name: api_keys api_keys_organizations_organization; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_organizations_organization FOREIGN KEY (organization_id) REFERENCES public.organizations(id);


--
-- Name: entitlements entitlements_organizations_organization; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.entitlements
    ADD CONSTRAINT entitlements_organizations_organization FOREIGN KEY (organization_id) REFERENCES public.organizations(id);


--
-- Name: instances instances_licenses_instances; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.instances
    ADD CONSTRAINT instances_licenses_instances FOREIGN KEY (license_id) REFERENCES public.licenses(id) ON DELETE RESTRICT;


--
-- Name: instances instances_organizations_organization; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.instances
    ADD CONSTRAINT instances_organizations_organization FOREIGN KEY (organization_id) REFERENCES public.organizations(id);


--
-- Name: license_entitlements license_entitlements_entitlements_grants; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.license_entitlements
    ADD CONSTRAINT license_entitlements_entitlements_grants FOREIGN KEY (entitlement_id) REFERENCES public.entitlements(id) ON DELETE RESTRICT;


--
-- Name: license_entitlements license_entitlements_licenses_entitlements; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.license_entitlements
    ADD CONSTRAINT license_entitlements_licenses_entitlements FOREIGN KEY (license_id) REFERENCES public.licenses(id) ON DELETE CASCADE;


--
-- Name: license_entitlements license_entitlements_organizations_organization; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.license_entitlements
    ADD CONSTRAINT license_entitlements_organizations_organization FOREIGN KEY (organization_id) REFERENCES public.organizations(id);


--
-- Name: license_versions license_versions_licenses_versions; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.license_versions
    ADD CONSTRAINT license_versions_licenses_versions FOREIGN KEY (license_id) REFERENCES public.licenses(id) ON DELETE CASCADE;


--
-- Name: license_versions license_versions_organizations_organization; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.license_versions
    ADD CONSTRAINT license_versions_organizations_organization FOREIGN KEY (organization_id) REFERENCES public.organizations(id);


--
-- Name: licenses licenses_organizations_organization; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.licenses
    ADD CONSTRAINT licenses_organizations_organization FOREIGN KEY (organization_id) REFERENCES public.organizations(id);


--
-- Name: org_policies org_policies_organizations_organization; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.org_policies
    ADD CONSTRAINT org_policies_organizations_organization FOREIGN KEY (organization_id) REFERENCES public.organizations(id);


--
-- Name: policy_revisions policy_revisions_org_policies_revisions; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.policy_revisions
    ADD CONSTRAINT policy_revisions_org_policies_revisions FOREIGN KEY (policy_id) REFERENCES public.org_policies(id) ON DELETE CASCADE;


--
-- Name: policy_revisions policy_revisions_organizations_organization; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.policy_revisions
    ADD CONSTRAINT policy_revisions_organizations_organization FOREIGN KEY (organization_id) REFERENCES public.organizations(id);


--
-- Name: threshold_events threshold_events_entitlements_threshold_events; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.threshold_events
    ADD CONSTRAINT threshold_events_entitlements_threshold_events FOREIGN KEY (entitlement_id) REFERENCES public.entitlements(id) ON DELETE RESTRICT;


--
-- Name: threshold_events threshold_events_instances_threshold_events; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.threshold_events
    ADD CONSTRAINT threshold_events_instances_threshold_events FOREIGN KEY (instance_id) REFERENCES public.instances(id) ON DELETE CASCADE;


--
-- Name: threshold_events threshold_events_organizations_organization; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.threshold_events
    ADD CONSTRAINT threshold_events_organizations_organization FOREIGN KEY (organization_id) REFERENCES public.organizations(id);


--
-- Name: usage_counters usage_counters_entitlements_usage_counters; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.usage_counters
    ADD CONSTRAINT usage_counters_entitlements_usage_counters FOREIGN KEY (entitlement_id) REFERENCES public.entitlements(id) ON DELETE RESTRICT;


--
-- Name: usage_counters usage_counters_instances_usage_counters; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.usage_counters
    ADD CONSTRAINT usage_counters_instances_usage_counters FOREIGN KEY (instance_id) REFERENCES public.instances(id) ON DELETE CASCADE;


--
-- Name: usage_counters usage_counters_organizations_organization; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.usage_counters
    ADD CONSTRAINT usage_counters_organizations_organization FOREIGN KEY (organization_id) REFERENCES public.organizations(id);


--
-- Name: usage_events usage_events_entitlements_usage_events; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.usage_events
    ADD CONSTRAINT usage_events_entitlements_usage_events FOREIGN KEY (entitlement_id) REFERENCES public.entitlements(id) ON DELETE RESTRICT;


--
-- Name: usage_events usage_events_instances_usage_events; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.usage_events
    ADD CONSTRAINT usage_events_instances_usage_events FOREIGN KEY (instance_id) REFERENCES public.instances(id) ON DELETE CASCADE;


--
-- Name: usage_events usage_events_organizations_organization; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.usage_events
    ADD CONSTRAINT usage_events_organizations_organization FOREIGN KEY (organization_id) REFERENCES public.organizations(id);


--
-- PostgreSQL database dump complete
--


