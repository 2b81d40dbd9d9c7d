// magnum-config-sample: prints etc/magnum.conf.sample, generated from the option schema.
import { renderSample } from '../conf/index.ts';

process.stdout.write(renderSample());
