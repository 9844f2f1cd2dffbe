// One size: the stress run repeats it so its figures land with the stress figures.
import '../reliability/hostile-registry-tls.test.ts';
