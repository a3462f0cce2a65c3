import sys, time, traceback
sys.path.insert(0,'bench')
import generate
from sla_lang.compile import compile_text
from sla_lang.targets import BuildOptions, load_target
from sla_lang.simulate import solver
from collections import Counter
n=int(sys.argv[1])
p=compile_text(generate.generate_policy(n),'b.sla',checks=False).policy
tm=Counter(); cnt=Counter()
orig=solver.Solver.solve
def solve(self,base,constraints,**k):
    t=time.perf_counter(); r=orig(self,base,constraints,**k); d=time.perf_counter()-t
    st=traceback.extract_stack(limit=5)[:-1]
    kind=(r is None, ' < '.join(f"{f.name}:{f.lineno}" for f in reversed(st)))
    tm[kind]+=d; cnt[kind]+=1
    return r
solver.Solver.solve=solve
t=time.perf_counter(); load_target('fixtures').build(p,BuildOptions()); print(time.perf_counter()-t)
for k,v in tm.most_common(8): print(f"{v:.2f}s n={cnt[k]} {k}")
