CREATE TABLE runs (
	id VARCHAR(32) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	trace TEXT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	spec JSON NOT NULL, 
	policy JSON NOT NULL, 
	summary JSON, 
	error TEXT NOT NULL, 
	requests_recorded BIGINT NOT NULL, 
	series_recorded BIGINT NOT NULL, 
	owner VARCHAR(128) NOT NULL, 
	lease_expires_at DATETIME, 
	CONSTRAINT pk_runs PRIMARY KEY (id)
);
CREATE INDEX ix_runs_created_at ON runs (created_at);
CREATE INDEX ix_runs_status ON runs (status);
CREATE TABLE request_records (
	id INTEGER NOT NULL, 
	run_id VARCHAR(32) NOT NULL, 
	request_id BIGINT NOT NULL, 
	replica INTEGER NOT NULL, 
	state VARCHAR(32) NOT NULL, 
	arrival_s DOUBLE NOT NULL, 
	input_tokens INTEGER NOT NULL, 
	output_tokens INTEGER NOT NULL, 
	first_token_s DOUBLE, 
	finish_s DOUBLE, 
	preemptions INTEGER NOT NULL, 
	reason TEXT NOT NULL, 
	CONSTRAINT pk_request_records PRIMARY KEY (id), 
	CONSTRAINT fk_request_records_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE
);
CREATE INDEX ix_request_records_run_id_id ON request_records (run_id, id);
CREATE TABLE series (
	id INTEGER NOT NULL, 
	run_id VARCHAR(32) NOT NULL, 
	t_s DOUBLE NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	value DOUBLE, 
	CONSTRAINT pk_series PRIMARY KEY (id), 
	CONSTRAINT fk_series_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE
);
CREATE INDEX ix_series_run_id_name ON series (run_id, name);
CREATE TABLE component_util (
	id INTEGER NOT NULL, 
	run_id VARCHAR(32) NOT NULL, 
	component VARCHAR(255) NOT NULL, 
	metric VARCHAR(100) NOT NULL, 
	value DOUBLE, 
	CONSTRAINT pk_component_util PRIMARY KEY (id), 
	CONSTRAINT uq_component_util_run_id_component_metric UNIQUE (run_id, component, metric), 
	CONSTRAINT fk_component_util_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE
);
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
