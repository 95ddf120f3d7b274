select
    cve_geo,
    state_name,
    municipality_name,
    population_total,
    population_female,
    population_male
from {{ source('silver', 'municipalities') }}
