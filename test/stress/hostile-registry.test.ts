// The hostile registry scenario has one size: the stress run repeats it so its figures land with the stress figures.
import '../reliability/hostile-registry.test.ts';
