-- One database per Sizhong service (database-per-service; no service reads another's tables).
-- Mounted into /docker-entrypoint-initdb.d by docker-compose.yml, so it runs once, as the
-- POSTGRES_USER ("sizhong"), when the postgres data volume is first initialised.
-- tests/test_deploy_manifests.py checks that this list matches the services.
CREATE DATABASE sizhong_gateway OWNER sizhong;
CREATE DATABASE sizhong_crowdsourcing OWNER sizhong;
CREATE DATABASE sizhong_crowdfunding OWNER sizhong;
CREATE DATABASE sizhong_crowdsupport OWNER sizhong;
CREATE DATABASE sizhong_makerspace OWNER sizhong;
CREATE DATABASE sizhong_credit OWNER sizhong;
CREATE DATABASE sizhong_audit OWNER sizhong;
