import { recurTsupConfig } from '../../tsup.shared';

export default recurTsupConfig();
