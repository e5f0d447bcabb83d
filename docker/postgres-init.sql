-- One database per service (each service owns its data); the services migrate them at start-up.
CREATE DATABASE rujukan_referral OWNER rujukan;
CREATE DATABASE rujukan_tracker OWNER rujukan;
CREATE DATABASE rujukan_notifier OWNER rujukan;
